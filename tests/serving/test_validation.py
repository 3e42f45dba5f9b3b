"""Every kind of bad input gets a 4xx with its own code in the one error schema, never a 500."""
from __future__ import annotations

import json

import pytest

MAX_TEXT = 50
MAX_ITEMS = 3
MAX_BODY = 4096


@pytest.fixture
def api(make_client, fake_classifier):
    return make_client(fake_classifier, max_text_chars=MAX_TEXT, max_batch_items=MAX_ITEMS, max_body_bytes=MAX_BODY)


def post_raw(api, body: bytes | str, content_type: str | None = "application/json", **kwargs):
    headers = api.headers("ingest")
    if content_type:
        headers["Content-Type"] = content_type
    return api.client.post("/v1/classify", content=body, headers=headers, **kwargs)


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.text and 'File "' not in response.text
    assert response.headers["x-request-id"]
    return body["error"]


@pytest.mark.parametrize("text", ["", " ", "\n\t  ", "\u3000\u3000", "\u200b\ufeff", "\x00\x01"])
def test_empty_or_whitespace_text(api, text):
    err = assert_error(api.classify([{"id": "1", "text": text}]), 422, "E210")
    assert err["details"][0]["loc"] == ["body", "items", 0, "text"]


def test_text_too_long_and_exactly_at_the_limit(api):
    assert api.classify([{"id": "1", "text": "扣" * MAX_TEXT}]).status_code == 200
    err = assert_error(api.classify([{"id": "1", "text": "扣" * (MAX_TEXT + 1)}]), 422, "E211")
    assert err["details"][0]["ctx"]["max_length"] == MAX_TEXT


def test_batch_too_large(api):
    items = [{"id": str(i), "text": "转账失败"} for i in range(MAX_ITEMS + 1)]
    err = assert_error(api.classify(items), 413, "E212")
    assert err["details"][0]["ctx"]["max_length"] == MAX_ITEMS
    assert api.classify(items[:MAX_ITEMS]).status_code == 200


def test_empty_batch(api):
    assert_error(api.classify([]), 422, "E514")


def test_body_too_large_by_content_length(api):
    body = json.dumps({"items": [{"id": "1", "text": "a" * (MAX_BODY + 10)}]})
    err = assert_error(post_raw(api, body), 413, "E511")
    assert err["details"]["max_bytes"] == MAX_BODY


def test_body_too_large_when_streamed_without_length(api):
    chunk = b'{"items": [{"id": "1", "text": "' + b"a" * MAX_BODY + b'"}]}'

    def stream():
        yield chunk[:100]
        yield chunk[100:]

    assert_error(post_raw(api, stream()), 413, "E511")


@pytest.mark.parametrize("body", ['{"items": [', "{bad json}", "not json at all", '{"items": [{"id": "1", "text": "x",}]}'])
def test_invalid_json(api, body):
    err = assert_error(post_raw(api, body), 400, "E510")
    assert err["message"].startswith("request body is not valid JSON")


def test_deeply_nested_json_is_a_client_error(api):
    body = "[" * 100_000 + "]" * 100_000
    r = post_raw(api, body)
    assert r.status_code in (400, 413), r.text
    assert r.json()["error"]["code"] in ("E510", "E511")


def test_non_utf8_body(api):
    body = json.dumps({"items": [{"id": "1", "text": "信用卡年费乱收费"}]}, ensure_ascii=False).encode("gbk")
    err = assert_error(post_raw(api, body), 400, "E512")
    assert "byte_offset" in err["details"]


def test_unpaired_surrogate_in_text(api):
    assert_error(post_raw(api, '{"items": [{"id": "1", "text": "abc\\ud800def"}]}'), 400, "E512")


def test_utf8_bom_is_tolerated(api):
    body = "\ufeff" + json.dumps({"items": [{"id": "1", "text": "转账失败"}]})
    assert post_raw(api, body.encode("utf-8")).status_code == 200


@pytest.mark.parametrize(
    "payload, where",
    [
        ({"items": [{"id": 1, "text": "转账失败"}]}, ["body", "items", 0, "id"]),
        ({"items": [{"id": "1", "text": 123}]}, ["body", "items", 0, "text"]),
        ({"items": [{"id": "1", "text": ["转账失败"]}]}, ["body", "items", 0, "text"]),
        ({"items": [{"id": "1"}]}, ["body", "items", 0, "text"]),
        ({"items": [{"text": "转账失败"}]}, ["body", "items", 0, "id"]),
        ({"items": {"id": "1", "text": "转账失败"}}, ["body", "items"]),
        ({"items": ["转账失败"]}, ["body", "items", 0]),
        ({"items": [{"id": "1", "text": "转账失败", "metadata": ["vip"]}]}, ["body", "items", 0, "metadata"]),
        ({"items": [{"id": "1", "text": "转账失败", "metadata": {"a": {"b": 1}}}]}, None),
        ({"items": [{"id": "1", "text": "转账失败", "txt": "typo"}]}, ["body", "items", 0, "txt"]),
        ({"item": [{"id": "1", "text": "转账失败"}]}, None),
        ({"items": [{"id": "", "text": "转账失败"}]}, ["body", "items", 0, "id"]),
        ({"items": [{"id": "a\nb", "text": "转账失败"}]}, ["body", "items", 0, "id"]),
        ({"items": [{"id": "1", "text": "转账失败", "received_at": "2026-11-23T10:00:00"}]}, ["body", "items", 0, "received_at"]),
        ({"items": [{"id": "1", "text": "转账失败", "received_at": "1970-01-01T00:00:00+08:00"}]}, ["body", "items", 0, "received_at"]),
        ({"items": [{"id": "1", "text": "转账失败", "received_at": 1764000000}]}, ["body", "items", 0, "received_at"]),
        ({"items": [{"id": "1", "text": "转账失败", "metadata": {"k": "0" * 300}}]}, ["body", "items", 0, "metadata", "k"]),
        ({"items": [{"id": "1", "text": "转账失败", "metadata": {f"k{i}": i for i in range(40)}}]}, ["body", "items", 0, "metadata"]),
        ([{"id": "1", "text": "转账失败"}], ["body"]),
        ("转账失败", ["body"]),
        (None, ["body"]),
    ],
)
def test_wrong_types_and_fields(api, payload, where):
    err = assert_error(post_raw(api, json.dumps(payload)), 422, "E513")
    if where is not None:
        assert err["details"][0]["loc"][: len(where)] == where
    assert "转账失败" not in json.dumps(err)  # inputs are never echoed back


def test_non_finite_metadata_number(api):
    """NaN, like ±Infinity and 1e400, is a number the rules cannot compare: out of range (E213)."""
    r = post_raw(api, '{"items": [{"id": "1", "text": "转账失败", "metadata": {"amount": NaN}}]}')
    err = assert_error(r, 422, "E213")
    assert err["message"] == "body.items[0].metadata.amount: metadata numbers must be finite and lie within ±10^15"


def test_missing_body(api):
    assert_error(post_raw(api, b"", content_type=None), 422, "E513")


def test_wrong_content_type(api):
    err = assert_error(post_raw(api, '{"items": []}', content_type="text/plain"), 415, "E516")
    assert err["details"] == {"expected": "application/json"}
    # a JSON subtype with parameters is fine
    ok = post_raw(api, json.dumps({"items": [{"id": "1", "text": "转账失败"}]}), content_type="application/json; charset=utf-8")
    assert ok.status_code == 200


def test_most_specific_code_wins_and_all_problems_are_listed(api):
    items = [{"id": "1", "text": " "}, {"id": 2, "text": "转账失败"}, {"id": "3", "text": "扣" * (MAX_TEXT + 1)}]
    err = assert_error(api.classify(items), 422, "E211")
    assert {tuple(d["loc"][:3]) for d in err["details"]} == {("body", "items", 0), ("body", "items", 1), ("body", "items", 2)}


def test_unknown_route_and_method(api):
    assert_error(api.client.get("/v1/nothing"), 404, "E517")
    assert_error(api.client.get("/v1/classify", headers=api.headers()), 405, "E518")


def test_bad_matrix_query(api):
    h = api.headers("supervisor")
    assert_error(api.client.get("/v1/matrix?from=yesterday", headers=h), 422, "E513")
    assert_error(api.client.get("/v1/matrix?from=1764000000", headers=h), 422, "E513")  # no Unix timestamps
    assert_error(api.client.get("/v1/matrix?category=fee", headers=h), 422, "E513")
    assert_error(api.client.get("/v1/matrix?from=2026-02-01&to=2026-01-01", headers=h), 422, "E513")
    assert_error(api.client.get("/v1/matrix?from=0001-01-01T00:00:00%2B08:00", headers=h), 422, "E513")


def test_internal_errors_have_the_schema_and_no_trace(make_client, fake_classifier):
    def broken(texts):
        raise RuntimeError("secret internals /etc/passwd")

    fake_classifier.predict = broken
    api = make_client(fake_classifier)
    r = api.classify([{"id": "1", "text": "转账失败"}])
    err = assert_error(r, 500, "E599")
    assert "secret" not in r.text
    assert err["details"]["request_id"] == r.headers["x-request-id"]
