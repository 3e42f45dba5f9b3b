"""The runtime on the committed tiny bundle: shapes, order, calibration, abstention, no torch."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from classifier.errors import EmptyText
from classifier.labels import HEADS, LABELS
from classifier.runtime import Classifier

TINY = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_bundle"


@pytest.fixture(scope="module")
def clf():
    return Classifier.load(TINY, threads=1)


def test_predictions_have_every_head_and_sum_to_one(clf):
    preds = clf.predict(["信用卡年费太贵了", "花呗怎么还款"])
    for p in preds:
        assert set(p.heads) == set(HEADS)
        for h in HEADS:
            scores = p.heads[h].scores
            assert list(scores) == list(LABELS[h])
            assert sum(scores.values()) == pytest.approx(1.0)
            assert p.heads[h].confidence == max(scores.values())
        d = p.to_dict()
        assert set(d) == {*HEADS, "category_secondary", "needs_review", "review_reasons"}


def test_order_is_preserved_across_length_sorted_batches(clf):
    texts = ["短", "这是一段比较长的反馈，信用卡分期手续费太高了，客服电话一直打不通，我要投诉", "还款", "花呗"] * 20
    clf_small = Classifier.load(TINY, threads=1, batch_size=3)
    batched = clf_small.predict(texts)
    for text, p in zip(texts[:4], batched[:4]):
        single = clf.predict([text])[0]
        for h in HEADS:
            # int8 dynamic quantization scales activations per batch tensor, so batch neighbours
            # move scores slightly (about 1e-3); they must never move them further than this
            assert single.heads[h].scores == pytest.approx(p.heads[h].scores, abs=1e-2)


def test_traditional_and_full_width_text_is_normalized_first(clf):
    a, b = clf.predict(["信用卡年费太贵了!", "信用卡年費太貴了！"])
    for h in HEADS:
        assert a.heads[h].scores == pytest.approx(b.heads[h].scores)


def test_needs_review_follows_thresholds(clf):
    cal = clf.bundle.calibration
    preds = clf.predict(["信用卡年费太贵了", "花呗怎么还款", "垃圾"])
    for p in preds:
        low = [h for h in HEADS if p.heads[h].confidence < cal.thresholds[h]]
        assert p.needs_review == bool(low) and p.review_heads == low
        assert p.review_reasons == [f"{h}_uncertain" for h in low]  # the tiny bundle watches no class


def test_empty_text_is_an_error_with_a_code(clf):
    with pytest.raises(EmptyText) as err:
        clf.predict(["好", "  \u200b "])
    assert err.value.code == "E210" and err.value.details == {"index": 1}


def test_long_text_is_truncated_not_failed(clf):
    (p,) = clf.predict(["还款" * 5000])
    assert p.heads["category"].label in LABELS["category"]


def test_runtime_and_service_never_import_torch():
    code = ("import sys, classifier.runtime, classifier.priority, classifier.routing, classifier.linear\n"
            "try:\n    import serving.app\nexcept ImportError:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n"
            "assert not any(m == 'training' or m.startswith('training.') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_calibration_helpers():
    from classifier.calibration import calibrate, expected_calibration_error, softmax

    p = softmax(np.array([[2.0, 0.0, -1.0]]))
    assert calibrate(p, 1.0) == pytest.approx(p)
    assert calibrate(p, 2.0).max() < p.max()  # T > 1 softens
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert expected_calibration_error(perfect, np.array([0, 1])) == 0.0
    assert expected_calibration_error(perfect, np.array([1, 0])) == 1.0


def test_a_solo_call_runs_on_every_core_and_scores_the_same():
    """The solo session (all cores, for a call that runs alone) gives the narrow session's scores."""
    texts = ["信用卡年费没有提前告知就扣了，要求退还", "手机银行转账一直失败，今天还款日怎么办", "服务很好"]
    wide = Classifier.load(TINY, threads=1, solo_threads=2)
    assert wide.solo_threads == 2
    narrow = wide.predict(texts)
    assert wide.solo_calls == 0
    solo = wide.predict(texts, solo=True)
    assert wide.solo_calls == 1
    for a, b in zip(narrow, solo):
        for h in HEADS:
            assert a.heads[h].label == b.heads[h].label
            assert a.heads[h].confidence == pytest.approx(b.heads[h].confidence, abs=1e-5)


def test_a_solo_call_beside_another_call_uses_the_narrow_session():
    clf = Classifier.load(TINY, threads=1, solo_threads=2)
    with clf._call_cores(False):  # another call is in the model
        clf.predict(["花呗怎么还款"], solo=True)
    assert clf.solo_calls == 0
    clf.predict(["花呗怎么还款"], solo=True)
    assert clf.solo_calls == 1


def test_no_solo_session_when_it_would_not_be_wider():
    clf = Classifier.load(TINY, threads=2, solo_threads=2)
    assert clf.solo_threads == 0
    clf.predict(["花呗怎么还款"], solo=True)
    assert clf.solo_calls == 0


def test_a_call_of_several_batches_runs_them_side_by_side_and_scores_the_same(clf):
    """Lanes: each batch on the one-thread session, one per core; same scores, same order."""
    texts = ["短", "这是一段比较长的反馈，信用卡分期手续费太高了，客服电话一直打不通，我要投诉", "还款", "花呗",
             "信用卡年费没有提前告知就扣了，要求退还", "手机银行转账一直失败，今天还款日怎么办"] * 7
    two = Classifier.load(TINY, threads=2, batch_size=4)
    one = Classifier.load(TINY, threads=1, batch_size=4)
    assert one._lanes is None  # one core: nothing to run beside
    side_by_side, in_turn = two.predict(texts), one.predict(texts)
    assert two.lane_calls == 1 and one.lane_calls == 0
    for a, b in zip(side_by_side, in_turn):
        for h in HEADS:
            assert a.heads[h].label == b.heads[h].label
            assert a.heads[h].scores == pytest.approx(b.heads[h].scores, abs=1e-5)
    two.predict(["还款", "花呗", "年费"])  # one batch: the two-thread session, no lanes
    assert two.lane_calls == 1


def test_a_lone_call_of_several_batches_takes_the_solo_cores_in_lanes():
    clf = Classifier.load(TINY, threads=1, solo_threads=2, batch_size=2)
    texts = ["信用卡年费太贵了", "花呗怎么还款", "手机银行转账一直失败", "服务很好", "我要投诉"]
    clf.predict(texts)
    assert (clf.solo_calls, clf.lane_calls) == (0, 0)  # not alone: one core, batch after batch
    clf.predict(texts, solo=True)
    assert (clf.solo_calls, clf.lane_calls) == (1, 1)
    with clf._call_cores(False):  # another call is in the model
        clf.predict(texts, solo=True)
    assert (clf.solo_calls, clf.lane_calls) == (1, 1)
