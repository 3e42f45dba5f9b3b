"""Issue 13, items 1, 2, 6 and 8: inputs that reached a 500 or were accepted wrongly, each on SQLite
and PostgreSQL, now get their 4xx code; nothing unmasked or unstorable reaches the database or logs."""
from __future__ import annotations

import gzip
import json
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from serving.db.tables import Classification
from serving.http.schemas import METADATA_NUMBER_MESSAGE

INVISIBLE = ["\u2060", "\u00ad", "\u3164", "\ufe0f", "\U000e0001", "\u180e", "\u034f", "\u2800", "\u0300",
             "\u2066\u2069", "\ufff9", "\u200b", " \u2060\u00ad ", "\ue000", "\u115f\u1160", "\uffa0"]


def error_of(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text
    return body["error"]


def stored(api) -> int:
    with api.services.sessions() as s:
        return s.scalar(select(func.count()).select_from(Classification))


@pytest.fixture
def db_api(make_client, fake_classifier, db_url):
    return make_client(fake_classifier, db_url)


# --- item 1: numbers the rules cannot compare ----------------------------------------------------

def test_huge_metadata_numbers_get_e213_not_500(db_api, caplog):
    for field in ("amount", "channel", "customer_tier"):
        for value in ("1" + "0" * 309, "-" + "9" * 400, "1" + "0" * 16, "1.5e300"):
            body = '{"items":[{"id":"1","text":"年费","metadata":{"%s":%s}}]}' % (field, value)
            with caplog.at_level(logging.ERROR):
                r = db_api.client.post("/v1/classify", content=body, headers={
                    **db_api.headers("ingest"), "Content-Type": "application/json"})
            err = error_of(r, 422, "E213")
            assert any(d["type"] == "number_out_of_range" and field in d["loc"] for d in err["details"])
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR]
    assert stored(db_api) == 0


def test_non_finite_and_nested_metadata_values_are_refused(db_api):
    for literal, code in (("NaN", "E213"), ("Infinity", "E213"), ("-Infinity", "E213"), ("1e400", "E213"),
                          ("-1e400", "E213"), ('{"a": 1}', "E513"), ("[1, 2]", "E513")):
        body = '{"items":[{"id":"1","text":"年费","metadata":{"amount":%s}}]}' % literal
        r = db_api.client.post("/v1/classify", content=body, headers={
            **db_api.headers("ingest"), "Content-Type": "application/json"})
        error = error_of(r, 422, code)
        assert error["message"].startswith("body.items[0].metadata.amount: metadata ")
        assert len(error["details"]) == 1 and error["details"][0]["loc"] == ["body", "items", 0, "metadata", "amount"]


# Out-of-range JSON numbers as a client could write them: integers of 17 to 6,000 digits (Python
# converts at most 4,300: beyond, the body did not parse, E510), exponents that overflow to ±inf
# (-1e400 quoted pydantic's "valid string"), and the non-standard literals json.loads takes.
_SIGN = st.sampled_from(["", "-"])
_INTEGER = st.builds(lambda sign, first, rest: sign + first + rest, _SIGN, st.sampled_from("123456789"),
                     st.text("0123456789", min_size=16, max_size=6000))
_EXPONENT = st.builds(lambda sign, m, e: f"{sign}{m}e{e}", _SIGN, st.sampled_from(["1", "9.99", "1.0", "5"]),
                      st.one_of(st.integers(16, 400), st.integers(400, 100_000)))
_OUT_OF_RANGE = st.one_of(_INTEGER, _EXPONENT, st.sampled_from(["Infinity", "-Infinity", "NaN", "1000000000000001",
                                                                "-1000000000000001", "1" * 4300, "1" * 4301]))
_KEY = st.from_regex(r"[a-z][a-z_]{0,20}", fullmatch=True)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=_OUT_OF_RANGE, key=_KEY, position=st.integers(0, 2))
def test_every_out_of_range_metadata_number_is_e213_naming_its_field(api, number, key, position):
    items = ['{"id": "%d", "text": "年费", "metadata": {"channel": "app"%s}}' % (i, f', "{key}": {number}' if i == position else "")
             for i in range(3)]  # written out: the number as the client wrote it, only in item `position`
    body = '{"items": [%s]}' % ", ".join(items)
    r = api.client.post("/v1/classify", content=body, headers={**api.headers("ingest"), "Content-Type": "application/json"})
    assert r.status_code == 422, body[:300]
    error = error_of(r, 422, "E213")
    assert error["message"] == f"body.items[{position}].metadata.{key}: {METADATA_NUMBER_MESSAGE}"
    assert error["details"] == [{"loc": ["body", "items", position, "metadata", key], "type": "number_out_of_range",
                                 "msg": METADATA_NUMBER_MESSAGE, "ctx": {"limit": 10**15}}]
    for internal in ("Input should", "function-after", "valid string", "parsing the body"):
        assert internal not in r.text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=st.one_of(st.integers(-10**15, 10**15),
                        st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False)))
def test_metadata_numbers_within_the_bound_are_accepted(api, number):
    r = api.classify([{"id": "1", "text": "年费", "metadata": {"amount": number}}])
    assert r.status_code == 200, r.text


def test_an_oversized_integer_outside_metadata_is_e513_naming_its_field(api):
    body = '{"items":[{"id":"1","text":"年费"}],"extra":%s}' % ("7" * 5000)
    r = api.client.post("/v1/classify", content=body, headers={**api.headers("ingest"), "Content-Type": "application/json"})
    assert error_of(r, 422, "E513")["message"] == "body.extra: number out of range"
    broken = api.client.post("/v1/classify", content='{"items": [' + "7" * 5000, headers={
        **api.headers("ingest"), "Content-Type": "application/json"})
    assert broken.status_code == 400 and broken.json()["error"]["code"] == "E510"  # not JSON at all: still E510


def test_integers_within_the_bound_still_drive_the_rules(db_api):
    r = db_api.classify([{"id": "1", "text": "年费", "metadata": {"amount": 10**15}}])
    assert r.status_code == 200, r.text


def test_config_number_test_is_total_for_huge_integers():
    from classifier.rules import _as_number, _is_number

    assert _is_number(10**400) is False and _as_number(10**400) is None
    assert _is_number(float("nan")) is False and _is_number(5) is True


# --- item 2: NUL and other unstorable characters in review notes ---------------------------------

def test_review_note_with_nul_is_stored_clean_and_masked(db_api, caplog):
    r = db_api.classify([{"id": "q1", "text": "不确定 年费扣了两次"}])
    assert r.status_code == 200
    item = db_api.client.get("/v1/review", headers=db_api.headers("supervisor")).json()["items"][0]["id"]
    note = "a\u0000b 客户电话13812345678，身份证110101199003071234\u0007"
    with caplog.at_level(logging.DEBUG):
        r = db_api.client.post(f"/v1/review/{item}", json={"note": note}, headers=db_api.headers("supervisor"))
    assert r.status_code == 200, r.text
    with db_api.services.sessions() as s:
        saved = s.scalar(select(Classification.review_note).where(Classification.id == item))
    assert "\x00" not in saved and "\x07" not in saved and saved.startswith("ab ")
    assert "13812345678" not in saved and "110101199003071234" not in saved
    assert "138****5678" in saved
    assert all("13812345678" not in rec.getMessage() for rec in caplog.records)


# --- item 6: invisible-only text ------------------------------------------------------------------

def test_invisible_only_text_is_e210(db_api):
    for text in INVISIBLE:
        r = db_api.classify([{"id": "1", "text": text}])
        error_of(r, 422, "E210")
    assert stored(db_api) == 0


def test_visible_text_with_invisible_characters_is_classified(db_api):
    r = db_api.classify([{"id": "1", "text": "\u2060年费\u00ad太高\ufe0f"}])
    assert r.status_code == 200


def test_runtime_refuses_invisible_only_text_too(tiny_classifier):
    from classifier.errors import EmptyText

    with pytest.raises(EmptyText):
        tiny_classifier.predict(["正常的一句话", "\u2060\u3164"])


# --- item 8: the smaller ones ---------------------------------------------------------------------

def test_duplicate_item_ids_get_e515(db_api):
    r = db_api.classify([{"id": "a", "text": "年费"}, {"id": "b", "text": "年费"}, {"id": "a", "text": "利息"}])
    err = error_of(r, 422, "E515")
    assert err["details"][0]["loc"] == ["body", "items"]
    assert stored(db_api) == 0


def test_missing_content_type_is_415(db_api):
    body = json.dumps({"items": [{"id": "1", "text": "年费"}]}).encode()
    r = db_api.client.post("/v1/classify", content=body, headers={**db_api.headers("ingest"), "Content-Type": ""})
    error_of(r, 415, "E516")


def test_compressed_body_is_415_not_utf8_error(db_api):
    body = gzip.compress(json.dumps({"items": [{"id": "1", "text": "年费"}]}).encode())
    r = db_api.client.post("/v1/classify", content=body, headers={
        **db_api.headers("ingest"), "Content-Type": "application/json", "Content-Encoding": "gzip"})
    error_of(r, 415, "E523")


def test_bad_json_without_a_key_is_401_first(db_api):
    r = db_api.client.post("/v1/classify", content=b"{not json", headers={"Content-Type": "application/json"})
    error_of(r, 401, "E501")
    r = db_api.client.post("/v1/classify", content=b"{not json",
                           headers={**db_api.headers("ingest"), "Content-Type": "application/json"})
    error_of(r, 400, "E510")


def test_invalid_keys_are_rate_limited_per_address(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url, invalid_key_attempts_per_minute=5)
    codes = [api.client.get("/v1/matrix", headers={"Authorization": f"Bearer trk_wrong{i}"}).status_code for i in range(8)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429] * 3
    r = api.client.get("/v1/matrix", headers={"Authorization": "Bearer trk_wrong-again"})
    err = error_of(r, 429, "E528")
    assert int(r.headers["Retry-After"]) >= 1 and err["details"]["retry_after_seconds"] > 0
    # A valid key already in the cache keeps working from that address; others are unaffected.
    assert api.client.get("/v1/matrix", headers=api.headers("supervisor")).status_code in (200, 429)
