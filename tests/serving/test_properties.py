"""Property-based tests (hypothesis): the request parser, the text checks, PII masking and the
table readers hold for inputs nobody thought to write down. Example counts are kept small so the
file runs in seconds; raise HYPOTHESIS_EXAMPLES for a deeper local run."""
from __future__ import annotations

import json
import os
import string

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from classifier.text.normalize import normalize_text
from classifier.io.tables import read_records, spreadsheet_safe, write_table
from classifier.text.visible import has_visible_text
from classifier.text.pii import find_pii, fold, mask_text

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


# --- the request parser: any body gets 200 or a 4xx with a code, never a 5xx ----------------------

def _check(r) -> None:
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        body = r.json()
        assert set(body) == {"error"} and body["error"]["code"].startswith("E")


@FAST
@given(body=json_values)
def test_any_json_body_is_answered_without_a_server_error(api, body):
    _check(api.client.post("/v1/classify", content=json.dumps(body, allow_nan=True),
                           headers={**api.headers("ingest"), "Content-Type": "application/json"}))


@FAST
@given(metadata=st.dictionaries(st.text(max_size=70), json_values, max_size=5), text=st.text(max_size=30),
       item_id=st.text(max_size=10))
def test_any_item_is_answered_without_a_server_error(api, metadata, text, item_id):
    item = {"id": item_id, "text": text, "metadata": metadata}
    _check(api.client.post("/v1/classify", content=json.dumps({"items": [item]}, allow_nan=True),
                           headers={**api.headers("ingest"), "Content-Type": "application/json"}))


@FAST
@given(raw=st.binary(max_size=200))
def test_any_bytes_are_answered_without_a_server_error(api, raw):
    _check(api.client.post("/v1/classify", content=raw, headers={**api.headers("ingest"), "Content-Type": "application/json"}))


# --- the text checks ---------------------------------------------------------------------------------

@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(text=st.text(max_size=40))
def test_visible_text_survives_normalization(text):
    # What the service accepts, the runtime can classify (it refuses texts empty after normalization).
    if has_visible_text(text):
        assert has_visible_text(normalize_text(text))


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(text=st.text(alphabet=st.characters(categories=["Cf", "Mn", "Zs", "Co", "Cc"]), max_size=20))
def test_invisible_categories_alone_are_never_visible(text):
    assert not has_visible_text(text)


# --- PII masking -------------------------------------------------------------------------------------

DIGIT_FORMS = [string.digits, "０１２３４５６７８９", "〇一二三四五六七八九", "零壹贰叁肆伍陆柒捌玖",
               "⓪①②③④⑤⑥⑦⑧⑨", "٠١٢٣٤٥٦٧٨٩"]
SEPARATORS = ["", " ", "-", ".", "/", "\u200b", "－", " - "]
CONTEXT = st.text(alphabet="我的电话是请尽快回拨谢谢客户反映年费问题，。", max_size=8)


@st.composite
def typed_mobile(draw):
    number = "1" + draw(st.sampled_from("3456789")) + "".join(draw(st.lists(st.sampled_from(string.digits), min_size=9, max_size=9)))
    forms = draw(st.lists(st.sampled_from(DIGIT_FORMS), min_size=11, max_size=11))
    typed = [forms[i][int(d)] for i, d in enumerate(number)]
    sep = draw(st.sampled_from(SEPARATORS))
    grouped = sep.join(["".join(typed[:3]), "".join(typed[3:7]), "".join(typed[7:])])
    before = draw(CONTEXT)
    return before + grouped + draw(CONTEXT), grouped, len(before)


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(case=typed_mobile())
@example(case=("13000000000客户谢反", "13000000000", 0))  # found by hypothesis: a cued name in the context
def test_a_mobile_number_in_any_typed_form_is_masked(case):
    text, typed, at = case
    masked = mask_text(text)
    assert typed not in masked
    # the middle four digits, whatever their form (the context may hold a cued name: "客户谢反"
    # is a customer called 谢反, and its given name is masked too)
    assert masked[at:at + len(typed)].count("*") == 4
    assert len(masked) == len(text)


@settings(max_examples=EXAMPLES * 5, deadline=None)
@given(text=st.text(max_size=60))
def test_masking_is_total_stable_and_keeps_length(text):
    masked = mask_text(text)
    assume("@" not in fold(text))  # e-mail masks shorten the local part
    assert len(masked) == len(text)
    assert mask_text(masked) == masked  # nothing left to find in a masked text
    spans = find_pii(text)
    assert all(0 <= s < e <= len(text) for _, s, e in spans)
    assert all(a[2] <= b[1] for a, b in zip(spans, spans[1:]))  # ordered, no overlaps


# --- table readers -----------------------------------------------------------------------------------

cell_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\ufeff"), min_size=1, max_size=20)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@FAST
@given(rows=st.lists(st.fixed_dictionaries({"id": cell_text, "text": cell_text}), min_size=1, max_size=6))
def test_tables_round_trip(tmp_path, suffix, rows):
    path = tmp_path / f"t{suffix}"
    write_table(path, rows, ["id", "text"])
    back = [r for _, r, p in read_records(path, ["id", "text"]) if r is not None]
    # CSV cells that a spreadsheet would run as a formula are written quote-prefixed and read back
    # without the quote (classifier/io/tables.py): the text comes back exactly, quotes of its own too.
    assert [(r["id"], r["text"]) for r in back] == [(r["id"], r["text"]) for r in rows]
    if suffix == ".csv":
        raw = path.read_text(encoding="utf-8")
        assert all('"' + spreadsheet_safe(r["text"]).replace('"', '""') + '"' in raw for r in rows)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
@FAST
@given(raw=st.binary(max_size=300))
def test_readers_never_fail_with_anything_but_a_coded_error(tmp_path, suffix, raw):
    from classifier.errors import TriageError

    path = tmp_path / f"junk{suffix}"
    path.write_bytes(raw)
    try:
        for line, record, problem in read_records(path, ["text"]):
            assert (record is None) != (problem is None)
    except TriageError as exc:
        assert exc.code.startswith("E2")
