from classifier.text.normalize import normalize_text
from classifier.text.segment import get_segmenter


def test_normalization_nfkc_width_traditional_whitespace():
    assert normalize_text("ＡＢＣ１２３　信用卡\t\n年費太貴了！！\u200b") == "ABC123 信用卡 年费太贵了!!"
    assert normalize_text("   ") == ""
    assert normalize_text("臺灣銀行匯款") == "台湾银行汇款"


def test_segmenter_uses_financial_dictionary_and_is_shared():
    seg = get_segmenter()
    words = seg.words("花呗提额失败，还被收了滞纳金和罚息，我要投诉银保监会")
    for term in ("花呗", "提额", "滞纳金", "罚息", "银保监会"):
        assert term in words
    assert get_segmenter() is seg


def test_segmenter_does_not_touch_the_global_jieba_dictionary():
    import jieba

    get_segmenter().words("微粒贷")
    assert "微粒贷" not in jieba.lcut("微粒贷")  # global instance never saw our user dict


def test_normalization_drops_unpaired_surrogates():
    # What a JSON "\ud800" escape or a surrogate-escaped broken decoding leaves in a str.
    assert normalize_text("花呗\ud800还款\udfff ") == "花呗还款"
    import json

    assert normalize_text(json.loads('"\\ud83d\\ude00 ok"')) == "\U0001f600 ok"  # a pair JSON joins is kept
