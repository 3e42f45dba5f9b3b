"""Personal data is masked before storage and logs (classifier/text/pii.py)."""
from __future__ import annotations

import pytest

from classifier.text.pii import find_pii, mask_text, mask_value


@pytest.mark.parametrize(
    "text, expected",
    [
        ("我的手机号是13812345678，请尽快回电", "我的手机号是138****5678，请尽快回电"),
        ("联系电话：+86 138-1234-5678，下午都在", "联系电话：+86 138-****-5678，下午都在"),
        ("客服让我打0086 15912345678咨询", "客服让我打0086 159****5678咨询"),
        ("电话１３８１２３４５６７８（全角）", "电话１３８****５６７８（全角）"),  # the typed characters stay
        ("身份证号110101199003071234被人冒用办了贷款", "身份证号110***********1234被人冒用办了贷款"),
        ("身份证44030419851231002X已经提交", "身份证440***********002X已经提交"),
        ("老身份证号110101900307123还能用吗", "老身份证号110********7123还能用吗"),
        ("我的卡号6222021234567890123被盗刷了两万", "我的卡号622202*********0123被盗刷了两万"),
        ("信用卡 6225 8812 3456 7890 昨天被扣年费", "信用卡 6225 88** **** 7890 昨天被扣年费"),
        ("发到邮箱zhang.san@163.com谢谢", "发到邮箱z***@163.com谢谢"),
        ("邮件 li_si+bank@example.com.cn 已发", "邮件 l***@example.com.cn 已发"),
    ],
)
def test_masks_personal_data_in_chinese_text(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2024年12月3日被扣了5000元手续费",
        "年化利率24%，分期12期，每期还款1234.56元",
        "拨打客服电话95588一直占线",
        "订单号20241203123，退款还没到",
        "花呗怎么还款",
        "",
    ],
)
def test_leaves_ordinary_numbers_alone(text):
    assert mask_text(text) == text
    assert find_pii(text) == []


def test_several_kinds_in_one_text_keep_positions():
    text = "本人王某，手机13912345678，身份证320102198001011234，卡号6217001234567890，邮箱wang@qq.com"
    masked = mask_text(text)
    kinds = [k for k, _, _ in find_pii(text)]
    assert kinds == ["mobile", "id_card", "bank_card", "email"]
    for secret in ("13912345678", "320102198001011234", "6217001234567890", "wang@qq.com"):
        assert secret not in masked
    assert len(masked) == len(text)  # masks keep the length, so nothing else shifts
    assert masked.startswith("本人王某，手机139****5678，")


def test_two_adjacent_numbers_are_masked_separately():
    assert mask_text("13812345678 13912345678") == "138****5678 139****5678"


def test_mask_value_walks_metadata():
    meta = {"channel": "app", "contact": "13812345678", "nested": {"mail": "a@b.cn"}, "amount": 50000, "tags": ["x@y.com"]}
    assert mask_value(meta) == {
        "channel": "app", "contact": "138****5678", "nested": {"mail": "a***@b.cn"}, "amount": 50000, "tags": ["x***@y.com"],
    }
