"""Masking time is linear in the text, whatever the text (classifier/text/pii.py): the shapes that
made the old masker take 26 s on 5 KB ("1-" * 2500, "1 " * 2500, thousands of amounts) are
generated with random separators, units and lengths, and an 8x longer text must not take more than
40x the time (linear is 8x; the old masker's nested search was 64x or worse). CPU time of this
process, not wall time, so a busy machine does not fail it. The benchmark with per-KB figures is
bench/bench_pii.py."""
from __future__ import annotations

import os
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from classifier.text import pii
from classifier.text.pii import mask_text

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "15"))
SMALL, GROWTH = 2000, 8  # characters; the large text is GROWTH times longer

SEPARATORS = list(" -./()·_~\u200b\u3000－．") + [" - ", "  ", ".", ", ", "元 ", "号", "@", "[at]", "路", "客户王", "先生"]
UNITS = ["1", "12", "138", "1234", "6222", "13812345678", "一", "１", "a", "ab.c", "京A1", "1号", "12.50", "2024-12-03",
         "QQ1", "账号1", "王"]


def cpu_seconds(text: str) -> float:
    best = float("inf")
    for _ in range(2):
        start = time.process_time()
        mask_text(text)
        best = min(best, time.process_time() - start)
    return best


def repeat_to(piece: str, n: int) -> str:
    return (piece * (n // len(piece) + 1))[:n]


@settings(max_examples=EXAMPLES, deadline=None)
@given(unit=st.sampled_from(UNITS), sep=st.sampled_from(SEPARATORS),
       extra=st.text(alphabet="0123456789 -.", max_size=4))
def test_hostile_text_is_masked_in_linear_time(unit, sep, extra):
    piece = unit + extra + sep
    small = cpu_seconds(repeat_to(piece, SMALL))
    large = cpu_seconds(repeat_to(piece, SMALL * GROWTH))
    assert large <= 5 * GROWTH * small + 0.05, (piece, small, large)


def test_a_text_over_its_budget_is_masked_coarsely_not_left_in_clear(monkeypatch):
    text = "我叫王小明，手机13812345678，邮箱zhang@163.com"
    monkeypatch.setattr(pii._Budget, "BASE", 0)
    monkeypatch.setattr(pii._Budget, "STEPS_PER_CHAR", 0)
    masked = mask_text(text)
    assert "13812345678" not in masked and "zhang" not in masked and "163" not in masked
    assert len(masked) == len(text) and masked.startswith("我叫")


def test_an_ordinary_text_stays_well_inside_its_budget():
    text = "我叫王小明，手机13812345678一直打不通，住北京市朝阳区建国路88号5号楼1201室，邮箱zhang@163.com，车牌京A12345"
    budget = pii._Budget(len(text))
    start = budget.left
    folded = pii.fold(text)
    pii._number_spans(text, folded, budget)
    pii._names(pii.narrow(text), budget)
    pii._addresses(folded, budget)
    pii._emails(folded, budget)
    pii._cued_ids(pii.narrow(text), budget)
    assert start - budget.left < start / 4
