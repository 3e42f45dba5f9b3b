"""Structured JSON logs with request ids; feedback text never reaches the log."""
from __future__ import annotations

import json
import logging

from serving.http.logs import JsonFormatter


def test_access_log_is_json_with_request_id_and_no_text(api, caplog):
    caplog.set_level(logging.INFO, logger="triage")
    text = "我的手机13812345678，卡被盗刷"
    r = api.classify([{"id": "1", "text": text}], headers={"X-Request-ID": "rid-123"})
    assert r.status_code == 200
    records = [rec for rec in caplog.records if rec.name == "triage.access"]
    assert records, "no access log line"
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["request_id"] == "rid-123"
    assert line["route"] == "/v1/classify" and line["status"] == 200 and line["items"] == 1
    assert line["key"] == api.keys["ingest"][:12]
    assert line["duration_ms"] >= 0
    everything = "\n".join(JsonFormatter().format(rec) for rec in caplog.records)
    assert "13812345678" not in everything and "盗刷" not in everything


def test_errors_are_logged_with_the_trace_server_side_only(make_client, fake_classifier, caplog):
    def broken(texts):
        raise RuntimeError("boom")

    fake_classifier.predict = broken
    api = make_client(fake_classifier)
    caplog.set_level(logging.INFO)
    r = api.classify([{"id": "1", "text": "转账失败"}], headers={"X-Request-ID": "rid-err"})
    assert r.status_code == 500 and "boom" not in r.text
    formatted = [json.loads(JsonFormatter().format(rec)) for rec in caplog.records if rec.exc_info]
    assert any("RuntimeError: boom" in f.get("traceback", "") and f.get("request_id") == "rid-err" for f in formatted)
