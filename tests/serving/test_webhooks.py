"""Webhooks end to end: a real app (its lifespan runs the delivery worker), a real receiver (http.server in
a thread running the receiver example of docs/integrators.md, signature check included), real HTTP between
them; SQLite and PostgreSQL.

Backoff and polling are cut to tens of milliseconds so that an outage and its retries take a second.
"""
from __future__ import annotations

import json
import re
import threading
import time
from http.server import HTTPServer
from pathlib import Path
from typing import Any

import pytest

from serving.webhooks import delivery, signing, store

REPO = Path(__file__).resolve().parents[2]
FAST = dict(webhook_poll_seconds=0.05, webhook_backoff_base_seconds=0.05, webhook_backoff_max_seconds=0.2,
            webhook_timeout_seconds=2.0, webhook_deadline_check_seconds=0.1)


def docs_receiver() -> dict[str, Any]:
    """The receiver example of docs/integrators.md, as its reader would run it (minus __main__)."""
    text = (REPO / "docs" / "integrators.md").read_text(encoding="utf-8")
    section = text[text.index("## Webhooks"):]
    (code,) = [c for c in re.findall(r"```python\n(.*?)```", section, re.S) if "class Receiver" in c]
    namespace: dict[str, Any] = {"__name__": "receiver_example"}
    exec(compile(code, "docs/integrators.md", "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


class Receiver:
    """The documented receiver on a port of its own; records every arrival (repeats included) and the
    events it handled (first arrival of an id with a valid signature)."""

    def __init__(self, secret: str = ""):
        self.ns = docs_receiver()
        self.ns["SECRET"] = secret.encode()
        self.arrivals: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.ns["handle"] = self.events.append
        self.lock = threading.Lock()
        self.port = 0
        self.server: HTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        outer = self

        class Handler(self.ns["Receiver"]):
            def do_POST(self) -> None:
                with outer.lock:
                    super().do_POST()

            def send_response(self, code, message=None) -> None:
                outer.arrivals.append({"id": self.headers.get("Triage-Event-Id"), "status": code,
                                       "attempt": int(self.headers.get("Triage-Delivery-Attempt", 0))})
                super().send_response(code, message)

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def set_secret(self, secret: str) -> None:
        self.ns["SECRET"] = secret.encode()

    def of(self, type_: str, item_id: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == type_ and (item_id is None or e["data"]["item"]["item_id"] == item_id)]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


def wait_for(predicate, timeout: float = 20.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def subscribe(api, url: str, events: list[str] | None = None) -> dict[str, Any]:
    body = {"url": url, "description": "ticket system"} | ({"events": events} if events else {})
    response = api.client.post("/v1/admin/webhooks", headers=api.headers("admin"), json=body)
    assert response.status_code == 201, response.text
    return response.json()


def stored_id(api, item_id: str) -> int:
    (item,) = api.client.get("/v1/items", params={"item_id": item_id}, headers=api.headers("supervisor")).json()["items"]
    return item["id"]


def deliveries(api, sub_id: int) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/admin/webhooks/{sub_id}/deliveries", headers=api.headers("admin"))
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def test_classify_decide_outage_and_restart_deliver_every_event_once_signed(make_client, fake_classifier, db_url, receiver):
    api = make_client(fake_classifier, database_url=db_url, **FAST)
    sub = subscribe(api, receiver.url, ["item.queued", "item.decided"])
    assert sub["secret"].startswith("whsec_") and sub["events"] == ["item.queued", "item.decided"]
    receiver.set_secret(sub["secret"])

    # classify -> item.queued, signed, with the reasons in Chinese and the level the queue sorts it at
    assert api.classify([{"id": "TK-1", "text": "银行卡被盗刷了 不确定 疑似紧急"}, {"id": "TK-0", "text": "谢谢 满意"}]).status_code == 200
    (queued,) = wait_for(lambda: receiver.of("item.queued", "TK-1"), what="item.queued")
    item = queued["data"]["item"]
    assert queued["id"].startswith("evt_") and item["id"] == stored_id(api, "TK-1") and item["status"] == "pending"
    assert {"reason": "possible_high_urgency", "zh": "可能为高紧急度"} in item["review_reasons"]
    assert item["sort"]["level"] and item["labels"]["urgency"] == "high" and item["text"]
    assert not receiver.of("item.queued", "TK-0")  # not sent to review: no event

    # a decision -> item.decided, after the item's item.queued
    decided = api.client.post(f"/v1/items/{item['id']}/review", headers=api.headers("supervisor"),
                              json={"urgency": "medium", "revision": 0, "note": "已核实"})
    assert decided.status_code == 200, decided.text
    (event,) = wait_for(lambda: receiver.of("item.decided", "TK-1"), what="item.decided")
    assert event["data"]["decision"]["changed"] == ["urgency"] and event["data"]["decision"]["note"] == "已核实"
    assert event["data"]["decision"]["by"]["name"] == "test-supervisor" and event["data"]["item"]["revision"] == 1
    assert receiver.events.index(queued) < receiver.events.index(event)

    # the receiver is down for a while: attempts fail and are logged, then it is delivered once
    receiver.stop()
    api.classify([{"id": "TK-2", "text": "转账失败 不确定"}])
    wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["attempts"] >= 3 and d["status"] == "pending"],
             what="three failed attempts")
    receiver.start()
    (late,) = wait_for(lambda: receiver.of("item.queued", "TK-2"), what="delivery after the outage")
    log = wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["event_id"] == late["id"] and d["status"] == "delivered"],
                   what="the log to say delivered")[0]
    assert log["attempts"] >= 4 and [a["attempt"] for a in log["log"]] == list(range(1, log["attempts"] + 1))
    assert all(a["status_code"] is None and a["error"] for a in log["log"][:-1]) and log["log"][-1]["status_code"] == 204
    arrived = [a for a in receiver.arrivals if a["id"] == late["id"]]
    assert 1 <= len(arrived) <= log["attempts"] and all(a["status"] == 204 for a in arrived)

    # a restart while the receiver is down loses nothing: the event waits in the outbox
    receiver.stop()
    api.classify([{"id": "TK-3", "text": "手续费 不确定"}])
    wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["attempts"] >= 1 and d["status"] == "pending"],
             what="a failed attempt before the restart")
    api.client.__exit__(None, None, None)  # the service stops (lifespan shutdown)
    receiver.start()
    api2 = make_client(fake_classifier, database_url=db_url, **FAST)  # a new service on the same database
    (after,) = wait_for(lambda: receiver.of("item.queued", "TK-3"), what="delivery after the restart")
    assert after["data"]["item"]["id"] == stored_id(api2, "TK-3")

    # every event handled exactly once (repeats only ever as the same id), none refused, in order
    ids = [e["id"] for e in receiver.events]
    assert len(ids) == len(set(ids)) == 4
    assert [(e["type"], e["data"]["item"]["item_id"]) for e in receiver.events] == [
        ("item.queued", "TK-1"), ("item.decided", "TK-1"), ("item.queued", "TK-2"), ("item.queued", "TK-3")]
    assert {a["status"] for a in receiver.arrivals} == {204}
    assert all(d["status"] == "delivered" for d in deliveries(api2, sub["id"]))

    metrics = api2.client.get("/metrics").text
    assert 'triage_webhook_deliveries_total{outcome="delivered"}' in metrics
    assert 'triage_webhook_outbox_depth{state="deliveries"} 0.0' in metrics


def test_a_wrong_secret_is_refused_by_the_receiver_and_retried(make_client, fake_classifier, receiver):
    api = make_client(fake_classifier, **FAST)
    sub = subscribe(api, receiver.url, ["item.queued"])
    receiver.set_secret("whsec_not-the-secret")
    api.classify([{"id": "A", "text": "不确定"}])
    wait_for(lambda: len(receiver.arrivals) >= 2, what="two refused attempts")
    assert {a["status"] for a in receiver.arrivals} == {400} and not receiver.events
    (pending,) = deliveries(api, sub["id"])
    assert pending["status"] == "pending" and any(a["status_code"] == 400 for a in pending["log"])
    receiver.set_secret(sub["secret"])
    wait_for(lambda: receiver.of("item.queued", "A"), what="delivery once the secret is right")


def test_deadline_missed_is_sent_once_per_overdue_pending_item(make_client, fake_classifier, db_url, receiver):
    api = make_client(fake_classifier, database_url=db_url, **FAST)
    sub = subscribe(api, receiver.url, ["item.deadline_missed"])
    receiver.set_secret(sub["secret"])
    old = "2026-01-05T09:00:00+08:00"  # long past any first-response deadline
    api.classify([{"id": "late", "text": "不确定", "received_at": old},
                  {"id": "late-2", "text": "不确定", "received_at": old},
                  {"id": "late-not-queued", "text": "满意", "received_at": old},
                  {"id": "fresh", "text": "不确定"}])
    (event,) = wait_for(lambda: receiver.of("item.deadline_missed", "late"), what="item.deadline_missed")
    assert event["data"]["overdue_seconds"] > 0 and event["data"]["item"]["status"] == "pending"
    wait_for(lambda: len(receiver.events) >= 2, what="the second overdue item")
    time.sleep(0.5)  # several more checks: nothing is reported again
    assert sorted(e["data"]["item"]["item_id"] for e in receiver.events) == ["late", "late-2"]
    assert len(receiver.arrivals) == 2


def test_several_workers_on_one_database_send_each_event_once_in_order(make_client, fake_classifier, db_url, receiver):
    first = make_client(fake_classifier, database_url=db_url, **FAST)
    second = make_client(fake_classifier, database_url=db_url, **FAST)  # another replica
    sub = subscribe(first, receiver.url, ["item.queued"])
    receiver.set_secret(sub["secret"])
    for n in range(6):
        (first if n % 2 else second).classify([{"id": f"R{n}-{k}", "text": "不确定"} for k in range(3)])
    wait_for(lambda: len(receiver.events) == 18, what="18 events")
    time.sleep(0.3)
    assert len(receiver.arrivals) == 18  # no event sent twice while the receiver answered
    got = [e["data"]["item"]["id"] for e in receiver.events]
    assert got == sorted(got)  # oldest first: one sender at a time per subscription


def test_admin_api_refuses_other_urls_and_roles_and_deletes(api):
    h = api.headers("admin")
    for url in ("ftp://example.cn/hook", "file:///etc/passwd", "javascript:alert(1)", "/relative", "http://",
                "https://user:pw@example.cn/hook"):
        response = api.client.post("/v1/admin/webhooks", headers=h, json={"url": url})
        assert response.status_code == 422 and response.json()["error"]["code"] == "E570", url
    response = api.client.post("/v1/admin/webhooks", headers=h, json={"url": "http://x.example/h", "events": ["item.nope"]})
    assert response.status_code == 422 and response.json()["error"]["code"] == "E513"
    assert api.client.post("/v1/admin/webhooks", headers=api.headers("supervisor"),
                           json={"url": "http://x.example/h"}).status_code == 403

    created = api.client.post("/v1/admin/webhooks", headers=h, json={"url": "https://x.example/h"}).json()
    assert created["events"] == ["item.queued", "item.decided", "item.undone", "item.deadline_missed"]
    listed = api.client.get("/v1/admin/webhooks", headers=h).json()["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]] and "secret" not in listed[0]
    assert listed[0]["secret_prefix"] == created["secret"][:10] + "…"
    assert api.client.get("/v1/admin/webhooks?lmit=1", headers=h).status_code == 422
    assert api.client.delete(f"/v1/admin/webhooks/{created['id']}", headers=h).status_code == 204
    assert api.client.get(f"/v1/admin/webhooks/{created['id']}", headers=h).json()["error"]["code"] == "E571"
    assert api.client.delete(f"/v1/admin/webhooks/{created['id']}", headers=h).status_code == 404
    assert api.client.get("/v1/admin/webhooks", headers=h).json()["webhooks"] == []


def test_signature_matches_the_documented_check_and_refuses_tampering():
    verify = docs_receiver()["verify_signature"]
    body = json.dumps({"id": "evt_1", "type": "item.queued"}).encode()
    header = signing.header("whsec_k", body)
    assert verify(b"whsec_k", body, header) and signing.verify("whsec_k", body, header)
    assert not verify(b"whsec_other", body, header)
    assert not verify(b"whsec_k", body + b" ", header)
    old = signing.header("whsec_k", body, int(time.time()) - 301)
    assert not verify(b"whsec_k", body, old) and not signing.verify("whsec_k", body, old)
    assert signing.verify("whsec_k", body, old, tolerance=600)
    assert not signing.verify("whsec_k", body, "t=abc,v1=00") and not signing.verify("whsec_k", body, "")


def test_backoff_grows_to_its_cap_with_jitter():
    import random

    rng = random.Random(1)
    delays = [delivery.backoff(n, 10, 3600, rng) for n in range(1, 15)]
    assert all(5 <= d <= 10 for d in delays[:1]) and all(1800 <= d <= 3600 for d in delays[-3:])
    assert len({round(d, 3) for d in delays}) == len(delays)  # jittered
    assert store.check_url(" https://a.example:8443/x?y=1 ") == "https://a.example:8443/x?y=1"


def test_cli_adds_lists_shows_deliveries_and_removes(tmp_path, monkeypatch, capsys):
    import argparse

    from serving.cli import register_webhooks

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    parser = argparse.ArgumentParser()
    register_webhooks(parser.add_subparsers())

    def run(*argv: str) -> tuple[int, str, str]:
        args = parser.parse_args(["webhooks", *argv])
        code = args.func(args)
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("add", "https://tickets.example.cn/hook", "--events", "item.queued,item.decided")
    assert code == 0 and re.fullmatch(r"whsec_[A-Za-z0-9_\-]{43}\n", out) and "shown only this once" in err
    code, out, _ = run("list")
    assert "https://tickets.example.cn/hook" in out and "item.queued,item.decided" in out
    code, out, err = run("deliveries")
    assert code == 0 and "no deliveries" in err
    code, out, err = run("rotate-secret", "1", "--overlap-hours", "2")
    first = out
    assert code == 0 and re.fullmatch(r"whsec_[A-Za-z0-9_\-]{43}\n", out) and "also signs every delivery until" in err
    code, out, err = run("rotate-secret", "1", "--overlap-hours", "0")
    assert code == 0 and out != first and "no longer signs" in err
    assert run("remove", "1")[0] == 0
    _, out, err = run("list")
    assert "no webhook subscriptions" in err
    from classifier.errors import TriageError

    with pytest.raises(TriageError) as refused:
        run("add", "ftp://tickets.example.cn/hook")
    assert refused.value.code == "E570"


def test_a_watched_item_is_announced_at_the_level_it_sorts_at(api):
    """The model says low urgency, the review policy watches it for high urgency: the event carries the
    level the queue sorts it at and why, in Chinese, so that a receiver can page someone on P1."""
    import json as _json

    from sqlalchemy import select

    from serving.db.tables import WebhookEvent

    assert api.classify([{"id": "W", "text": "不确定 疑似紧急"}]).status_code == 200
    with api.services.sessions() as session:
        (body,) = session.scalars(select(WebhookEvent.body).where(WebhookEvent.type == "item.queued"))
    item = _json.loads(body)["data"]["item"]
    assert item["labels"]["urgency"] == "low" and item["labels_zh"]["urgency"] == "低"
    assert item["sort"]["raised_by"] == ["possible_high_urgency"] and item["sort"]["raised_by_zh"] == ["可能为高紧急度"]
    assert item["sort"]["level"] < item["priority"]["level"]  # "P1" < "P4": sorts above its own level
    assert item["priority"]["respond_by"].endswith("+08:00")  # the matrix's zone, as the API answers


def test_an_event_is_given_up_after_the_retry_window_and_the_next_goes(make_client, fake_classifier, receiver):
    api = make_client(fake_classifier, **{**FAST, "webhook_retry_window_seconds": 0.3})
    sub = subscribe(api, receiver.url, ["item.queued"])
    receiver.set_secret(sub["secret"])
    receiver.stop()
    api.classify([{"id": "lost", "text": "不确定"}])
    (failed,) = wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["status"] == "failed"], what="given up")
    assert failed["attempts"] >= 1 and failed["finished_at"] and all(a["error"] for a in failed["log"])
    receiver.start()
    api.classify([{"id": "next", "text": "不确定"}])
    wait_for(lambda: receiver.of("item.queued", "next"), what="the next event")
    assert not receiver.of("item.queued", "lost")
    assert 'triage_webhook_deliveries_total{outcome="failed"} 1.0' in api.client.get("/metrics").text



def test_deleting_a_subscription_cancels_what_it_still_had_to_receive(make_client, fake_classifier, receiver):
    api = make_client(fake_classifier, **{**FAST, "webhook_backoff_base_seconds": 60})
    sub = subscribe(api, receiver.url, ["item.queued"])
    receiver.stop()
    api.classify([{"id": "never", "text": "不确定"}])
    wait_for(lambda: [d for d in deliveries(api, sub["id"]) if d["attempts"] == 1], what="a failed attempt")
    assert api.client.delete(f"/v1/admin/webhooks/{sub['id']}", headers=api.headers("admin")).status_code == 204
    (cancelled,) = deliveries(api, sub["id"])  # the log stays readable
    assert cancelled["status"] == "cancelled" and cancelled["finished_at"] and cancelled["next_attempt_at"] is None


def test_bulk_confirm_and_undo_record_one_event_per_change_in_their_transaction(api):
    """Bulk confirm is one decision per item, so one item.decided each; an undo is item.undone; a refused
    decision (stale revision) records nothing."""
    from sqlalchemy import select

    from serving.db.tables import WebhookEvent

    api.classify([{"id": f"B{n}", "text": "不确定"} for n in range(3)])
    ids = [stored_id(api, f"B{n}") for n in range(3)]
    h = api.headers("supervisor")
    done = api.client.post("/v1/review/confirm", headers=h, json={"items": [{"id": i, "revision": 0} for i in ids[:2]]})
    assert done.status_code == 200 and done.json()["confirmed"] == 2
    assert api.client.post(f"/v1/items/{ids[0]}/undo", headers=h, json={"revision": 1}).status_code == 200
    assert api.client.post(f"/v1/items/{ids[1]}/review", headers=h, json={"revision": 0}).status_code == 409  # stale

    with api.services.sessions() as session:
        bodies = [json.loads(b) for b in session.scalars(select(WebhookEvent.body).order_by(WebhookEvent.id))]
    assert [(b["type"], b["data"]["item"]["item_id"]) for b in bodies] == [
        ("item.queued", "B0"), ("item.queued", "B1"), ("item.queued", "B2"),
        ("item.decided", "B0"), ("item.decided", "B1"), ("item.undone", "B0")]
    undone = bodies[-1]["data"]
    assert undone["decision"]["kind"] == "undo" and undone["item"]["status"] == "pending" and undone["item"]["revision"] == 2
    assert len({b["id"] for b in bodies}) == 6


def test_a_rotated_secret_signs_beside_the_previous_one_for_the_overlap(make_client, fake_classifier, db_url, receiver):
    """Rotation without refusals: during the overlap each delivery carries a v1 for each secret, so the
    documented receiver accepts with the old secret and with the new one; with no overlap (a leaked
    secret) the old one stops at once."""
    api = make_client(fake_classifier, database_url=db_url, **FAST)
    sub = subscribe(api, receiver.url, ["item.queued"])
    receiver.set_secret(sub["secret"])
    path = f"/v1/admin/webhooks/{sub['id']}/rotate-secret"
    rotated = api.client.post(path, headers=api.headers("admin"))  # no body: a day's overlap
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"] != sub["secret"] and body["secret"].startswith("whsec_")
    assert body["previous_secret_until"] and body["secret_prefix"] == body["secret"][:10] + "…"
    api.classify([{"id": "old-secret", "text": "不确定"}])
    wait_for(lambda: receiver.of("item.queued", "old-secret"), what="delivery verified with the previous secret")
    receiver.set_secret(body["secret"])
    api.classify([{"id": "new-secret", "text": "不确定"}])
    wait_for(lambda: receiver.of("item.queued", "new-secret"), what="delivery verified with the new secret")
    assert {a["status"] for a in receiver.arrivals} == {204}  # nothing refused while switching

    again = api.client.post(path, headers=api.headers("admin"), json={"overlap_seconds": 0}).json()
    assert again["previous_secret_until"] is None
    api.classify([{"id": "leaked", "text": "不确定"}])  # the receiver still holds the secret rotated out
    wait_for(lambda: any(a["id"] and a["status"] == 400 for a in receiver.arrivals), what="a refused delivery")
    assert not receiver.of("item.queued", "leaked")
    receiver.set_secret(again["secret"])
    wait_for(lambda: receiver.of("item.queued", "leaked"), what="delivery once the receiver has the new secret")

    assert api.client.post("/v1/admin/webhooks/999/rotate-secret", headers=api.headers("admin")).json()["error"]["code"] == "E571"
    assert api.client.post(path, headers=api.headers("admin"), json={"overlap_seconds": 8 * 86400}).status_code == 422
    assert api.client.post(path, headers=api.headers("supervisor")).status_code == 403


def test_the_previous_secret_stops_signing_when_its_overlap_ends(make_client, fake_classifier):
    from datetime import timedelta

    api = make_client(fake_classifier, webhook_delivery=False)
    sub = subscribe(api, "http://127.0.0.1:9/hook", ["item.queued"])
    api.classify([{"id": "A", "text": "不确定"}])
    sessions = api.services.sessions
    store.rotate_secret(sessions, sub["id"], timedelta(hours=1))
    now = store.utcnow()
    assert delivery.fan_out(sessions, now) == 1
    job = delivery.head(sessions, sub["id"], now)
    assert job.previous_secret == sub["secret"]
    value = signing.header(job.secret, b"{}", previous=job.previous_secret)
    assert value.count("v1=") == 2 and signing.verify(sub["secret"], b"{}", value) and signing.verify(job.secret, b"{}", value)
    later = delivery.head(sessions, sub["id"], now + timedelta(hours=2))
    assert later.previous_secret is None
    assert not signing.verify(sub["secret"], b"{}", signing.header(later.secret, b"{}", previous=later.previous_secret))
