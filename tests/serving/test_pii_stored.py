"""Personal data is masked wherever the service keeps or prints it: stored item ids, metadata
keys and values, review exports and log lines (the masker itself: tests/classifier/test_pii*.py)."""
from __future__ import annotations


def test_stored_item_ids_metadata_keys_and_notes_are_masked(api):
    r = api.classify([{"id": "13812345678", "text": "不确定 我叫王小明，电话13912345678",
                       "metadata": {"13712345678": "x", "contact": "wang@qq.com"}}])
    assert r.status_code == 200
    assert r.json()["results"][0]["id"] == "13812345678"  # the caller's own id comes back as sent
    item = api.client.get("/v1/review", headers=api.headers("supervisor")).json()["items"][0]
    assert item["item_id"] == "138****5678"
    assert item["metadata"] == {"137****5678": "x", "contact": "w***@qq.com"}
    assert "13912345678" not in item["text"] and "王小明" not in item["text"]
    export = api.client.get("/v1/review/export", headers=api.headers("supervisor")).text
    assert "13812345678" not in export and "13912345678" not in export


def test_log_lines_are_masked():
    import logging

    from serving.logs import JsonFormatter

    record = logging.LogRecord("triage.test", logging.WARNING, __file__, 1, "client sent %s", ("手机13812345678",), None)
    line = JsonFormatter().format(record)
    assert "13812345678" not in line and "138****5678" in line
