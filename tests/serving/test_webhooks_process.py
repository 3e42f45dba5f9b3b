"""The outbox survives a killed service: a real `triage serve` process is SIGKILLed while the receiver is
down and an event waits; the next process over the same database delivers it, once, signed."""
from __future__ import annotations

import json
import signal
import sqlite3
import urllib.request

from test_serve_process import TINY, Server, clean_env, triage  # noqa: E402 - tests/serving is on sys.path
from test_webhooks import Receiver, wait_for  # noqa: E402


def post(url: str, key: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
        return json.loads(response.read())


def test_an_event_waiting_when_the_service_is_killed_is_delivered_by_the_next(tmp_path):
    db = tmp_path / "triage.db"
    env = clean_env(TRIAGE_DATABASE_URL=f"sqlite:///{db}", TRIAGE_BUNDLE_DIR=str(TINY), TRIAGE_LOG_JSON="false",
                    TRIAGE_WEBHOOK_POLL_SECONDS="0.05", TRIAGE_WEBHOOK_BACKOFF_BASE_SECONDS="0.05",
                    TRIAGE_WEBHOOK_BACKOFF_MAX_SECONDS="0.2", TRIAGE_WEBHOOK_TIMEOUT_SECONDS="0.5",
                    TRIAGE_DB_TIMEOUT_SECONDS="1")  # the killed process's lease: 2 x 0.5 + 2 x 1 = 3 s
    created = triage("keys", "create", "--role", "admin", cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    receiver = Receiver()
    receiver.stop()  # down from the start; its port is kept for later

    def attempts() -> int:
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT COALESCE(MAX(attempts), 0) FROM webhook_deliveries").fetchone()[0]

    first = Server(tmp_path, env)
    try:
        first.wait(lambda: first.ready_version() is not None, what="/readyz")
        receiver.set_secret(post(first.base + "/v1/admin/webhooks", key, {"url": receiver.url, "events": ["item.decided"]})["secret"])
        (result,) = post(first.base + "/v1/classify", key, {"items": [{"id": "TK-9", "text": "信用卡年费乱扣"}]})["results"]
        post(first.base + f"/v1/items/{result['stored_id']}/review", key, {"urgency": "high", "revision": 0})
        first.wait(lambda: attempts() >= 2, what="failed attempts while the receiver is down")
    finally:
        first.proc.send_signal(signal.SIGKILL)  # no shutdown at all: only the database remembers
        first.proc.wait(10)
        first.log.close()

    receiver.start()
    second = Server(tmp_path, env)
    try:
        second.wait(lambda: second.ready_version() is not None, what="/readyz of the second process")
        (event,) = wait_for(lambda: receiver.of("item.decided", "TK-9"), timeout=30, what="delivery by the second process")
        assert event["data"]["item"]["id"] == result["stored_id"] and event["data"]["decision"]["changed"] == ["urgency"]
        assert {a["status"] for a in receiver.arrivals} == {204} and len(receiver.arrivals) == 1
    finally:
        second.stop()
        receiver.stop()
