"""Personal data is masked wherever the service keeps or prints free text (stored texts,
metadata values, notes, log lines); identifiers are not text and are kept exactly as sent, end to
end: the API answer, the database row and the review export (the masker itself:
tests/classifier/test_pii*.py; which field is which: docs/integrators.md)."""
from __future__ import annotations

import json

from sqlalchemy import text as sql

# Identifiers that look like personal data to a masker: a phone number inside an order id, a
# timestamp with a decimal part, a metadata key that is a phone number.
ITEM_ID = "ORD-20261130-13812345678"
REQUEST_ID = "idem-1796649562.0149"
IDEMPOTENCY_KEY = "idem-1796649562.0149"


def test_identifiers_are_kept_and_free_text_is_masked_end_to_end(api):
    r = api.classify([{"id": ITEM_ID, "text": "不确定 我叫王小明，电话13912345678一直打不通",
                       "metadata": {"13712345678": "x", "contact": "wang@qq.com", "note": "客户张伟说卡号6222021234567890123"}}],
                     headers={"X-Request-ID": REQUEST_ID, "Idempotency-Key": IDEMPOTENCY_KEY})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == REQUEST_ID
    assert r.json()["results"][0]["id"] == ITEM_ID

    with api.services.engine.connect() as conn:
        row = conn.execute(sql("SELECT item_id, request_id, text_masked, metadata AS metadata_masked FROM classifications")).one()
        key = conn.execute(sql("SELECT key FROM idempotency_keys")).scalar_one()
    assert (row.item_id, row.request_id, key) == (ITEM_ID, REQUEST_ID, IDEMPOTENCY_KEY)
    stored_meta = row.metadata_masked if isinstance(row.metadata_masked, dict) else json.loads(row.metadata_masked)
    assert stored_meta == {"13712345678": "x", "contact": "w***@qq.com", "note": "客户张*说卡号622202*********0123"}
    assert "13912345678" not in row.text_masked and "小明" not in row.text_masked

    item = api.client.get("/v1/review", headers=api.headers("supervisor")).json()["items"][0]
    assert item["item_id"] == ITEM_ID
    assert item["metadata"] == stored_meta

    h = api.headers("supervisor")
    assert api.client.post(f"/v1/review/{item['id']}", headers=h, json={"note": "已回电13812345678"}).status_code == 200
    export = [json.loads(line) for line in api.client.get("/v1/review/export", headers=h).text.splitlines() if line]
    assert [(e["item_id"], e["request_id"]) for e in export] == [(ITEM_ID, REQUEST_ID)]
    assert export[0]["metadata"] == stored_meta
    dumped = json.dumps(export, ensure_ascii=False)
    assert "13912345678" not in dumped and "6222021234567890123" not in dumped and "wang@qq.com" not in dumped


def test_log_lines_are_masked():
    import logging

    from serving.http.logs import JsonFormatter

    record = logging.LogRecord("triage.test", logging.WARNING, __file__, 1, "client sent %s", ("手机13812345678",), None)
    line = JsonFormatter().format(record)
    assert "13812345678" not in line and "138****5678" in line


def test_the_request_deadline_fires_while_masking_runs(make_client, fake_classifier, monkeypatch):
    """Masking runs in a worker thread (serving/classify/pipeline.py), so a slow mask cannot hold the event
    loop past the request deadline (before: masked on the loop, the 2 s deadline fired at 34.8 s)."""
    import time

    import serving.classify.pipeline

    api = make_client(fake_classifier, request_timeout_seconds=0.5)
    assert api.classify([{"id": "warm", "text": "转账失败"}]).status_code == 200

    def slow_mask(text: str) -> str:
        time.sleep(2.0)
        return text

    monkeypatch.setattr(serving.classify.pipeline, "mask_text", slow_mask)
    start = time.monotonic()
    r = api.classify([{"id": "a", "text": "转账失败"}])
    elapsed = time.monotonic() - start
    assert r.status_code == 504 and r.json()["error"]["code"] == "E526", r.text
    assert elapsed < 1.5, elapsed
