"""The supervisor workspace API: queue order, filters and paging; decisions that re-prioritise,
with history, revisions and undo; claims and stale submits; explanations; offline docs.

The fake classifier's keyword rules give known labels (tests/serving/fakes.py): 催收 → contract_legal,
negative, high (P1 with configs/priority.yaml); 盗刷 → high (P3); 年费 → fees; 不确定 → queued
(category margin 0.2), 很不确定 → queued with margin 0.12.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, update

from serving.review.schemas import DecisionOutcome, Explanation, History, ItemWithHistory, Queue
from serving.db.tables import Classification, ItemRevision

T0 = datetime(2026, 12, 1, 9, 0)  # a Tuesday, Asia/Shanghai


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat() + "+08:00"


def ids_of(api, role="supervisor", **params) -> list[str]:
    r = api.client.get("/v1/review", headers=api.headers(role), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]]


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    return r.json()["error"]


def stored_ids(api) -> dict[str, int]:
    with api.services.sessions() as session:
        return {r.item_id: r.id for r in session.scalars(select(Classification))}


QUEUE = [
    {"id": "p4-old", "text": "转账 不确定", "received_at": at(0)},  # P4, respond by +24 h
    {"id": "p1-late", "text": "催收 不确定", "received_at": at(120)},  # P1, respond by +2.5 h
    {"id": "p1-early", "text": "催收 不确定", "received_at": at(60)},  # P1, respond by +1.5 h
    {"id": "p3", "text": "盗刷 不确定", "received_at": at(180), "metadata": {"channel": "app"}},  # P3
    {"id": "p4-sure", "text": "转账 不确定", "received_at": at(30)},  # P4, +24.5 h, margin 0.2
    {"id": "p4-unsure", "text": "转账 很不确定", "received_at": at(30)},  # P4, +24.5 h, margin 0.12
    {"id": "p2-fees", "text": "年费 投诉 不确定", "received_at": at(10), "metadata": {"channel": "app"}},  # P2
    {"id": "not-queued", "text": "催收", "received_at": at(5)},  # P1 but confident: not in the queue
]
ORDER = ["p1-early", "p1-late", "p2-fees", "p3", "p4-old", "p4-unsure", "p4-sure"]


def test_the_queue_puts_p1_first_then_deadline_margin_and_age(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    assert api.classify(QUEUE).status_code == 200
    body = api.client.get("/v1/review", headers=api.headers("supervisor")).json()
    Queue.model_validate(body)
    assert [i["item_id"] for i in body["items"]] == ORDER and body["total"] == 7 and body["next_cursor"] is None
    assert [i["priority"]["level"] for i in body["items"]] == ["P1", "P1", "P2", "P3", "P4", "P4", "P4"]
    assert body["items"][5]["margin"] < body["items"][6]["margin"]
    assert ids_of(api, status="all")[:3] == ["not-queued", "p1-early", "p1-late"]  # every item, same order
    assert ids_of(api, status="not_queued") == ["not-queued"]


def test_every_queue_filter(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify(QUEUE)
    assert ids_of(api, level="P1") == ["p1-early", "p1-late"]
    assert ids_of(api, level=["P1", "P3"]) == ["p1-early", "p1-late", "p3"]
    assert ids_of(api, head="category") == ORDER  # every fake queued item is unsure of its category
    assert ids_of(api, head="urgency") == []
    assert ids_of(api, reason="category_uncertain") == ORDER and ids_of(api, reason="possible_high_urgency") == []
    assert ids_of(api, label="contract_legal") == ["p1-early", "p1-late"]
    assert ids_of(api, label=["fees", "contract_legal"]) == ["p1-early", "p1-late", "p2-fees"]  # one head: any
    assert ids_of(api, label=["high", "product_service"]) == ["p3"]  # two heads: all
    assert ids_of(api, channel="app") == ["p2-fees", "p3"]
    assert ids_of(api, **{"from": at(60)}) == ["p1-early", "p1-late", "p3"]
    assert ids_of(api, **{"from": at(30), "to": at(120)}) == ["p1-early", "p4-unsure", "p4-sure"]
    assert ids_of(api, **{"from": "2026-12-01T01:00:00Z", "to": "2026-12-01T02:00:00Z"}) == [
        "p2-fees", "p4-old", "p4-unsure", "p4-sure"]  # 09:00-10:00 +08:00
    assert ids_of(api, model_version=fake_classifier.model_version) == ORDER
    with api.services.sessions.begin() as session:
        session.execute(update(Classification).where(Classification.item_id == "p3").values(model_version="other-1"))
    assert ids_of(api, model_version="other-1") == ["p3"]
    h = api.headers("supervisor")
    assert_error(api.client.get("/v1/review", headers=h, params={"level": "P9"}), 422, "E513")
    assert_error(api.client.get("/v1/review", headers=h, params={"label": "urgent"}), 422, "E513")
    assert_error(api.client.get("/v1/review", headers=h, params={"reason": "because"}), 422, "E513")
    assert_error(api.client.get("/v1/review", headers=h, params={"status": "done"}), 422, "E513")
    assert_error(api.client.get("/v1/review", headers=h, params={"from": at(60), "to": at(0)}), 422, "E513")
    # The total counts every page under the filters.
    assert api.client.get("/v1/review", headers=h, params={"level": "P4", "limit": 1}).json()["total"] == 3


def test_cursor_paging_walks_the_queue_once(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify(QUEUE)
    h = api.headers("supervisor")
    seen, cursor, pages = [], None, 0
    while True:
        body = api.client.get("/v1/review", headers=h, params={"limit": 3, **({"cursor": cursor} if cursor else {})}).json()
        pages += 1
        assert body["total"] == 7 - (1 if pages > 1 else 0) - (1 if pages > 2 else 0)
        seen += [i["item_id"] for i in body["items"]]
        if pages == 1:  # deciding an item of a page shown does not shift or repeat the next page
            assert api.client.post(f"/v1/items/{body['items'][0]['id']}/review", headers=h, json={"revision": 0}).status_code == 200
        if pages == 2:
            assert api.client.post(f"/v1/items/{body['items'][0]['id']}/review", headers=h, json={"revision": 0}).status_code == 200
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ORDER and pages == 3
    first = api.client.get("/v1/review", headers=h, params={"limit": 2}).json()["next_cursor"]
    assert_error(api.client.get("/v1/review", headers=h, params={"cursor": "bm9wZQ"}), 422, "E544")
    assert_error(api.client.get("/v1/review", headers=h, params={"cursor": "!!"}), 422, "E544")
    assert_error(api.client.get("/v1/review", headers=h, params={"cursor": first, "level": "P1"}), 422, "E544")


def test_a_correction_reprioritises_reroutes_and_moves_the_matrix(make_client, fake_classifier, db_url):
    """The issue's case: fees/neutral/low (P4, billing, 24 h) corrected to contract_legal/negative/high."""
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": "T-1", "text": "年费 不确定", "received_at": at(0), "metadata": {"channel": "app"}}])
    item = stored_ids(api)["T-1"]
    h = api.headers("supervisor")
    before = ItemWithHistory.model_validate(api.client.get(f"/v1/items/{item}", headers=h).json())
    assert (before.priority.level, before.route, before.revision, before.status) == ("P4", "billing", 0, "pending")
    assert [r.kind for r in before.history] == ["prediction"]
    matrix = api.client.get("/v1/matrix", headers=h).json()
    assert matrix["cells"]["urgent_important"] == 0 and matrix["by_category"]["fees"]["not_urgent_not_important"] == 1

    r = api.client.post(f"/v1/items/{item}/review", headers=h, json={
        "category": "contract_legal", "sentiment": "negative", "urgency": "high", "note": "催收威胁", "revision": 0})
    assert r.status_code == 200, r.text
    out = DecisionOutcome.model_validate(r.json())
    assert (out.priority.level, out.priority.quadrant, out.route) == ("P1", "urgent_important", "duty_supervisor")
    assert out.priority.respond_by == datetime.fromisoformat(at(30))  # P1: 30 minutes from receipt
    assert out.changed == out.corrected == ["category", "sentiment", "urgency"] and out.revision == 1
    assert out.status == "reviewed" and out.review.reviewer.name == "test-supervisor" and out.review.note == "催收威胁"
    assert out.predictions["category"]["label"] == "fees"  # what the model said stays
    matrix = api.client.get("/v1/matrix", headers=h).json()
    assert matrix["cells"]["urgent_important"] == 1 and matrix["by_category"]["contract_legal"]["urgent_important"] == 1
    assert ids_of(api) == [] and ids_of(api, status="reviewed", level="P1") == ["T-1"]
    metrics = api.client.get("/metrics").text
    assert 'triage_reviewed_labels_total{head="category",label="contract_legal"} 1.0' in metrics
    assert 'triage_reviewed_priority_level_total{level="P1"} 1.0' in metrics

    # A revision: a new history entry, never an overwrite; a head left out is confirmed as it is now.
    r = api.client.post(f"/v1/items/{item}/review", headers=api.headers("admin"), json={"sentiment": "neutral", "revision": 1})
    assert r.status_code == 200, r.text
    assert r.json()["labels"] == {"category": "contract_legal", "category_secondary": None, "sentiment": "neutral",
                                  "urgency": "high"}
    assert r.json()["priority"]["level"] == "P3" and r.json()["route"] == "compliance" and r.json()["changed"] == ["sentiment"]
    history = History.model_validate(api.client.get(f"/v1/items/{item}/history", headers=h).json())
    assert [(e.revision, e.kind, e.priority.level, e.route) for e in history.history] == [
        (0, "prediction", "P4", "billing"), (1, "review", "P1", "duty_supervisor"), (2, "review", "P3", "compliance")]
    assert history.history[1].reviewer.name == "test-supervisor" and history.history[2].reviewer.name == "test-admin"
    assert history.history[0].labels.category == "fees" and history.history[0].reviewer is None

    # Undo: a revision restoring the state before the latest one; undoing every decision re-queues the item.
    r = api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 2})
    assert r.status_code == 200 and r.json()["priority"]["level"] == "P1" and r.json()["revision"] == 3
    assert r.json()["labels"]["sentiment"] == "negative" and r.json()["history"][-1]["kind"] == "undo"
    with api.services.sessions.begin() as session:  # the history is appended to, never rewritten
        assert session.scalar(select(ItemRevision.route).where(ItemRevision.revision == 2)) == "compliance"
    api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 3})  # back to revision 2's state
    assert api.client.get(f"/v1/items/{item}", headers=h).json()["priority"]["level"] == "P3"


def test_undoing_the_only_decision_puts_the_item_back_in_the_queue(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": "u", "text": "年费 不确定"}])
    item, h = stored_ids(api)["u"], api.headers("supervisor")
    assert_error(api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 0}), 409, "E541")  # nothing to undo
    api.client.post(f"/v1/items/{item}/review", headers=h, json={"urgency": "high", "revision": 0})
    r = api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 1})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "pending" and r.json()["review"] is None and r.json()["labels"]["urgency"] == "low"
    assert r.json()["priority"]["level"] == "P4" and ids_of(api) == ["u"]
    assert api.client.get("/v1/review/export", headers=h).text == ""  # no decision in force


def test_any_item_can_be_reviewed_and_missing_items_have_their_own_code(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": "sure", "text": "转账"}])  # confident: never queued
    item, h = stored_ids(api)["sure"], api.headers("supervisor")
    assert_error(api.client.post(f"/v1/review/{item}", headers=h), 404, "E517")  # the queue-only endpoint
    r = api.client.post(f"/v1/items/{item}/review", headers=h, json={"category": "fees", "revision": 0})
    assert r.status_code == 200 and r.json()["route"] == "billing" and r.json()["status"] == "reviewed"
    for path in ("", "/history", "/explanation"):
        assert_error(api.client.get(f"/v1/items/999999{path}", headers=h), 404, "E540")
    assert_error(api.client.post("/v1/items/999999/review", headers=h, json={"revision": 0}), 404, "E540")
    assert_error(api.client.post(f"/v1/items/{item}/review", headers=h, json={"category": "fee", "revision": 1}), 422, "E519")
    assert_error(api.client.post(f"/v1/items/{item}/review", headers=h, json={"revision": "1"}), 422, "E513")
    assert_error(api.client.get(f"/v1/items/{item}", headers=api.headers("ingest")), 403, "E502")
    assert_error(api.client.get("/v1/items/0", headers=h), 422, "E513")


def test_a_stale_submit_gets_409_with_the_current_item(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": "s", "text": "年费 不确定"}])
    item = stored_ids(api)["s"]
    loaded = api.client.get(f"/v1/items/{item}", headers=api.headers("admin")).json()  # the second reviewer looks
    first = api.client.post(f"/v1/items/{item}/review", headers=api.headers("supervisor"),
                            json={"urgency": "high", "revision": 0})
    assert first.status_code == 200
    stale = api.client.post(f"/v1/items/{item}/review", headers=api.headers("admin"),
                            json={"urgency": "low", "revision": loaded["revision"]})
    err = assert_error(stale, 409, "E542")
    assert err["details"]["item"]["revision"] == 1 and err["details"]["item"]["labels"]["urgency"] == "high"
    assert_error(api.client.post(f"/v1/items/{item}/undo", headers=api.headers("admin"), json={"revision": 0}), 409, "E542")
    assert api.client.get(f"/v1/items/{item}", headers=api.headers("admin")).json()["labels"]["urgency"] == "high"


def test_of_concurrent_decisions_on_one_revision_exactly_one_wins(make_client, fake_classifier, db_url):
    import threading
    from collections import Counter

    api = make_client(fake_classifier, database_url=db_url, rate_limit_per_minute=0)
    api.classify([{"id": str(i), "text": "年费 不确定"} for i in range(4)])
    statuses: Counter = Counter()

    def decide(item: int, urgency: str) -> None:
        r = api.client.post(f"/v1/items/{item}/review", headers=api.headers("supervisor"),
                            json={"urgency": urgency, "revision": 0})
        statuses[r.status_code] += 1

    for item in stored_ids(api).values():
        threads = [threading.Thread(target=decide, args=(item, u)) for u in ("high", "medium", "low")]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert statuses == {200: 4, 409: 8}
    with api.services.sessions() as session:
        assert session.scalar(select(ItemRevision.id).where(ItemRevision.revision > 1)) is None


def test_a_claimed_item_is_not_offered_to_another_supervisor_until_the_lease_ends(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url, claim_lease_seconds=1.5)
    api.classify([{"id": "c", "text": "年费 不确定"}, {"id": "d", "text": "转账 不确定"}])
    item = stored_ids(api)["c"]
    a, b = api.headers("supervisor"), api.headers("admin")
    r = api.client.post(f"/v1/items/{item}/claim", headers=a)
    assert r.status_code == 200 and r.json()["claim"]["reviewer"]["name"] == "test-supervisor"
    ItemWithHistory.model_validate(r.json())
    assert ids_of(api, "supervisor") == ["c", "d"] and ids_of(api, "admin") == ["d"]
    assert_error(api.client.post(f"/v1/items/{item}/claim", headers=b), 409, "E543")
    assert_error(api.client.post(f"/v1/items/{item}/review", headers=b, json={"revision": 0}), 409, "E543")
    assert api.client.post(f"/v1/items/{item}/claim", headers=a).status_code == 200  # renewing one's own
    time.sleep(1.6)
    assert ids_of(api, "admin") == ["c", "d"]  # the lease ran out
    assert api.client.post(f"/v1/items/{item}/claim", headers=b).status_code == 200
    assert api.client.delete(f"/v1/items/{item}/claim", headers=a).status_code == 204  # not a's: left alone
    assert ids_of(api, "supervisor") == ["d"]
    assert api.client.delete(f"/v1/items/{item}/claim", headers=b).status_code == 204
    assert ids_of(api, "supervisor") == ["c", "d"]
    # A decision releases the decider's claim.
    api.client.post(f"/v1/items/{item}/claim", headers=b)
    api.client.post(f"/v1/items/{item}/review", headers=b, json={"revision": 0})
    assert api.client.get(f"/v1/items/{item}", headers=a).json()["claim"] is None


def test_the_explanation_points_at_the_words_behind_each_label(api):
    api.classify([{"id": "e", "text": "他们天天催收，打电话到单位，我很不确定怎么办"}])
    item, h = stored_ids(api)["e"], api.headers("supervisor")
    r = api.client.get(f"/v1/items/{item}/explanation", headers=h)
    assert r.status_code == 200, r.text
    body = Explanation.model_validate(r.json())
    text = api.client.get(f"/v1/items/{item}", headers=h).json()["text"]
    for head, label in (("category", "contract_legal"), ("sentiment", "negative"), ("urgency", "high")):
        top = body.heads[head].top
        assert body.heads[head].label == label and top[0].text == "催收" and text[top[0].start:top[0].end] == "催收"
        assert top[0].delta > 0.1
    assert all(s["text"] and text[s["start"]:s["end"]] == s["text"] for s in body.segments)
    assert not body.cached and api.client.get(f"/v1/items/{item}/explanation", headers=h).json()["cached"] is True

    # After a correction, the reviewer's label is explained too.
    api.client.post(f"/v1/items/{item}/review", headers=h, json={"category": "fees", "revision": 0})
    again = Explanation.model_validate(api.client.get(f"/v1/items/{item}/explanation", headers=h).json())
    assert again.heads["category"].label == "contract_legal" and again.heads["category"].reviewed.label == "fees"


def test_explanation_segments_are_grouped_for_long_texts():
    from serving.review.explain import segments_of

    text = "年费" * 5 + "，" + "催收电话" * 60
    spans = segments_of(text, 10)
    assert len(spans) <= 10 and spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(a[1] <= b[0] for a, b in zip(spans, spans[1:]))


def test_docs_and_redoc_load_their_assets_from_the_service(api):
    for path, asset in (("/docs", "/docs-assets/swagger-ui-bundle.js"), ("/redoc", "/docs-assets/redoc.standalone.js")):
        page = api.client.get(path)
        assert page.status_code == 200 and asset in page.text
        assert "cdn." not in page.text and "fonts.googleapis" not in page.text
        assert "default-src 'self'" in page.headers["content-security-policy"]
        script_src = page.headers["content-security-policy"].split("script-src", 1)[1].split(";", 1)[0]
        assert "'unsafe-inline'" not in script_src and "'nonce-" in script_src
        assert api.client.get(asset).status_code == 200
    assert api.client.get("/docs-assets/swagger-ui.css").headers["content-type"].startswith("text/css")


@pytest.mark.parametrize("path", ["/v1/items/1", "/v1/items/1/history", "/v1/items/1/explanation"])
def test_item_endpoints_need_a_key(api, path):
    assert_error(api.client.get(path), 401, "E501")


def test_a_database_with_decisions_of_release_0002_upgrades_with_their_history(make_client, fake_classifier, db_url):
    from serving.db import engine as db

    engine = db.make_engine(db_url)
    db.migrate(engine, "0002")
    now = datetime(2026, 12, 1, 1, 0)
    scores = {"category": {"label": "fees", "confidence": 0.5, "scores": {"fees": 0.5, "other": 0.3, "product_service": 0.2}},
              "review_reasons": ["category_uncertain"]}
    old = {"request_id": "r1", "item_id": "old", "text_masked": "年费", "metadata": {}, "predictions": scores,
           "model_version": "v0", "category": "fees", "category_secondary": None, "sentiment": "neutral",
           "urgency": "low", "urgent": False, "important": False, "quadrant": "not_urgent_not_important", "level": "P4",
           "respond_by": now, "resolve_by": now, "route": "billing", "needs_review": True, "received_at": now,
           "created_at": now, "reviewed_at": now, "reviewed_by": None, "review_note": "旧",
           "reviewed_labels": {"category": "other", "category_secondary": None, "sentiment": "neutral", "urgency": "low"}}
    with engine.begin() as conn:  # only the columns release 0002 had
        conn.execute(Classification.__table__.insert(), [old])
    engine.dispose()
    api = make_client(fake_classifier, database_url=db_url)  # start-up migrates to head
    item = stored_ids(api)["old"]
    body = api.client.get(f"/v1/items/{item}", headers=api.headers("supervisor")).json()
    assert body["labels"]["category"] == "other" and body["revision"] == 1 and body["margin"] == pytest.approx(0.2)
    assert body["review_reasons"] == ["category_uncertain"]
    assert [(e["revision"], e["kind"], e["labels"]["category"]) for e in body["history"]] == [
        (0, "prediction", "fees"), (1, "review", "other")]
    assert ids_of(api, status="reviewed", reason="category_uncertain") == ["old"]


def test_the_explanation_runs_on_the_real_runtime(tiny_api):
    r = tiny_api.classify([{"id": "t", "text": "信用卡年费没经过我同意就扣了，客服也不处理，我要投诉到银保监会"}])
    assert r.status_code == 200
    item = stored_ids(tiny_api)["t"]
    body = Explanation.model_validate(
        tiny_api.client.get(f"/v1/items/{item}/explanation", headers=tiny_api.headers("supervisor")).json())
    assert body.model_version == tiny_api.services.model_version and len(body.segments) >= 8
    for head, weights in body.heads.items():
        assert weights.label == r.json()["results"][0][head]["label"]
        assert weights.probability == pytest.approx(r.json()["results"][0][head]["confidence"], abs=0.02)
        assert all(t.delta >= 0.005 for t in weights.top) and len(weights.top) <= 3


def test_a_one_word_text_is_explained_by_itself(api):
    api.classify([{"id": "one", "text": "好评"}])
    body = api.client.get(f"/v1/items/{stored_ids(api)['one']}/explanation", headers=api.headers("supervisor")).json()
    assert [(s["text"], s["unit"]) for s in body["segments"]] == [("好评", None)]  # listed, nothing to occlude
    assert all(h["top"] == [] for h in body["heads"].values())
    assert body["heads"]["sentiment"]["label"] == "positive" and body["heads"]["sentiment"]["probability"] == 0.9
