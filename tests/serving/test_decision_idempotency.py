"""Idempotency-Key on decisions and undo (POST /v1/items/{id}/review, /undo, POST /v1/review/{id},
bulk POST /v1/review/confirm): a retry after a lost answer gets the committed change's stored answer
instead of 409 E542 (404 E517 on the queue route); the same key with another body or on another
item is 409 E524; a replay records no second decision or webhook event. SQLite and PostgreSQL."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import delete, func, select

from serving.db.tables import IdempotencyRecord, ItemRevision, WebhookEvent


def _items(api, n=2) -> list[int]:
    r = api.classify([{"id": f"d{i}", "text": "年费 不确定"} for i in range(n)])
    assert r.status_code == 200, r.text
    return [x["stored_id"] for x in r.json()["results"]]


def _revisions(api, item) -> list[str]:
    with api.services.sessions() as s:
        return list(s.scalars(select(ItemRevision.kind).where(ItemRevision.classification_id == item)
                              .order_by(ItemRevision.revision)))


def test_a_retried_decision_gets_its_stored_answer(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    item, other = _items(api)
    h = {**api.headers("supervisor"), "Idempotency-Key": "decide-1"}
    body = {"urgency": "high", "note": "涉及盗刷", "revision": 0}
    first = api.client.post(f"/v1/items/{item}/review", headers=h, json=body)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    for _ in range(2):  # the answer was lost: sent again
        again = api.client.post(f"/v1/items/{item}/review", headers=h, json=body)
        assert again.status_code == 200, again.text
        assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert _revisions(api, item) == ["prediction", "review"]
    # without a key, the same retry is refused as stale (its own change is in force)
    plain = api.client.post(f"/v1/items/{item}/review", headers=api.headers("supervisor"), json=body)
    assert plain.status_code == 409 and plain.json()["error"]["code"] == "E542"
    # a colleague changes it later: the retry still answers what was committed then
    assert api.client.post(f"/v1/items/{item}/review", headers=api.headers("admin"),
                           json={"urgency": "low", "revision": 1}).status_code == 200
    late = api.client.post(f"/v1/items/{item}/review", headers=h, json=body)
    assert late.status_code == 200 and late.json()["revision"] == 1 and late.json()["labels"]["urgency"] == "high"
    # the same key with another body, or on another item: 409 E524, nothing written
    for path, other_body in ((f"/v1/items/{item}/review", {**body, "urgency": "medium"}),
                             (f"/v1/items/{other}/review", body)):
        r = api.client.post(path, headers=h, json=other_body)
        assert r.status_code == 409 and r.json()["error"]["code"] == "E524", r.text
    assert _revisions(api, other) == [] and len(_revisions(api, item)) == 3  # nothing decided on the other
    # a malformed key is refused before anything happens
    r = api.client.post(f"/v1/items/{other}/review", headers={**h, "Idempotency-Key": "has space"}, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "E525"


def test_a_retried_undo_gets_its_stored_answer(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    item = _items(api, 1)[0]
    sup = api.headers("supervisor")
    assert api.client.post(f"/v1/items/{item}/review", headers=sup, json={"urgency": "high", "revision": 0}).status_code == 200
    h = {**sup, "Idempotency-Key": "undo-1"}
    first = api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 1})
    assert first.status_code == 200, first.text
    assert [e["kind"] for e in first.json()["history"]] == ["prediction", "review", "undo"]
    assert first.json()["history"][-1]["note"] == "撤回第 1 版"  # as the page says it, not in English
    again = api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 1})
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert _revisions(api, item) == ["prediction", "review", "undo"]
    # the undo's key on a decision is another request
    r = api.client.post(f"/v1/items/{item}/review", headers=h, json={"revision": 2})
    assert r.status_code == 409 and r.json()["error"]["code"] == "E524"


def test_concurrent_retries_of_one_decision_commit_once(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    item = _items(api, 1)[0]
    h = {**api.headers("supervisor"), "Idempotency-Key": "raced"}

    def send(_):
        return api.client.post(f"/v1/items/{item}/review", headers=h, json={"category": "fees", "revision": 0})

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1
    with api.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(ItemRevision).where(ItemRevision.kind == "review")) == 1


def _events(api, item) -> int:
    """item.decided events recorded for ``item`` (the outbox: one per committed decision)."""
    with api.services.sessions() as s:
        bodies = s.scalars(select(WebhookEvent.body).where(WebhookEvent.type == "item.decided"))
        return sum(json.loads(b)["data"]["item"]["id"] == item for b in bodies)


def test_the_queue_decision_route_replays_a_committed_decision(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    item, other = _items(api)
    h = {**api.headers("supervisor"), "Idempotency-Key": "queue-1"}
    first = api.client.post(f"/v1/review/{item}", headers=h, json={"urgency": "high"})
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    again = api.client.post(f"/v1/review/{item}", headers=h, json={"urgency": "high"})
    assert again.status_code == 200, again.text  # not 404 E517: the item has left the queue by its own decision
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert _revisions(api, item) == ["prediction", "review"]
    plain = api.client.post(f"/v1/review/{item}", headers=api.headers("supervisor"), json={"urgency": "high"})
    assert plain.status_code == 404 and plain.json()["error"]["code"] == "E517"
    for path, body in ((f"/v1/review/{item}", {"urgency": "low"}), (f"/v1/review/{other}", {"urgency": "high"})):
        r = api.client.post(path, headers=h, json=body)
        assert r.status_code == 409 and r.json()["error"]["code"] == "E524", r.text
    assert _revisions(api, other) == []


def test_a_retried_bulk_confirm_gets_its_stored_per_item_results(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    a, b, c = _items(api, 3)
    h = {**api.headers("supervisor"), "Idempotency-Key": "bulk-1"}
    assert api.client.post(f"/v1/items/{c}/review", headers=api.headers("admin"), json={"revision": 0}).status_code == 200
    body = {"items": [{"id": a, "revision": 0}, {"id": b, "revision": 0}, {"id": c, "revision": 0}], "note": "批量"}
    first = api.client.post("/v1/review/confirm", headers=h, json=body)
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    assert [(x["ok"], x.get("error", {}).get("code")) for x in first.json()["results"]] == [
        (True, None), (True, None), (False, "E542")]
    again = api.client.post("/v1/review/confirm", headers=h, json=body)
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # not E542 for the two it confirmed
    assert [_revisions(api, i) for i in (a, b)] == [["prediction", "review"]] * 2
    assert [_events(api, i) for i in (a, b)] == [1, 1]  # a replay announces nothing again
    other = api.client.post("/v1/review/confirm", headers=h, json={**body, "note": "另一次"})
    assert other.status_code == 409 and other.json()["error"]["code"] == "E524"
    r = api.client.post("/v1/review/confirm", headers={**h, "Idempotency-Key": "bad key"}, json=body)
    assert r.status_code == 422 and r.json()["error"]["code"] == "E525"


def test_a_bulk_confirm_cut_off_half_way_skips_what_it_confirmed(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    a, b = _items(api)
    h = {**api.headers("supervisor"), "Idempotency-Key": "bulk-cut"}
    body = {"items": [{"id": a, "revision": 0}, {"id": b, "revision": 0}]}
    first = api.client.post("/v1/review/confirm", headers=h, json=body)
    assert first.json()["confirmed"] == 2
    # As if the process died after the decisions but before the whole answer was stored:
    with api.services.sessions.begin() as s:
        assert s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == "bulk-cut")).rowcount == 1
    again = api.client.post("/v1/review/confirm", headers=h, json=body)
    assert again.status_code == 200 and again.json() == first.json(), again.text
    assert [_revisions(api, i) for i in (a, b)] == [["prediction", "review"]] * 2
    assert [_events(api, i) for i in (a, b)] == [1, 1]


def test_a_cut_off_bulk_confirm_retried_with_other_items_is_refused_before_any_change(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    a, b, c = _items(api, 3)
    h = {**api.headers("supervisor"), "Idempotency-Key": "bulk-cut-other"}
    assert api.client.post("/v1/review/confirm", headers=h, json={"items": [{"id": a, "revision": 0}]}).status_code == 200
    with api.services.sessions.begin() as s:  # cut off before the whole answer was stored
        assert s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.key == "bulk-cut-other")).rowcount == 1
    # the same key for items the first attempt never named: not a retry of it
    other = api.client.post("/v1/review/confirm", headers=h,
                            json={"items": [{"id": b, "revision": 0}, {"id": c, "revision": 0}]})
    assert other.status_code == 409 and other.json()["error"]["code"] == "E524", other.text
    assert [_revisions(api, i) for i in (b, c)] == [[], []] and [_events(api, i) for i in (b, c)] == [0, 0]
    # the first attempt's own retry still goes through
    again = api.client.post("/v1/review/confirm", headers=h, json={"items": [{"id": a, "revision": 0}]})
    assert again.status_code == 200 and again.json()["confirmed"] == 1, again.text


def test_concurrent_retries_of_one_bulk_confirm_commit_once(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    ids = _items(api, 3)
    h = {**api.headers("supervisor"), "Idempotency-Key": "bulk-raced"}
    body = {"items": [{"id": i, "revision": 0} for i in ids]}

    def send(_):
        return api.client.post("/v1/review/confirm", headers=h, json=body)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(send, range(4)))
    assert [a.status_code for a in answers] == [200] * 4, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1 and answers[0].json()["confirmed"] == 3
    assert [_revisions(api, i) for i in ids] == [["prediction", "review"]] * 3
    assert [_events(api, i) for i in ids] == [1, 1, 1]


def test_every_decision_route_documents_the_key_and_its_errors(api):
    spec = api.client.get("/openapi.json").json()
    for path in ("/v1/items/{item}/review", "/v1/items/{item}/undo", "/v1/review/{item}", "/v1/review/confirm"):
        op = spec["paths"][path]["post"]
        assert "Idempotency-Key" in [p["name"] for p in op["parameters"] if p["in"] == "header"], path
        assert "E524" in op["responses"]["409"]["description"] and "E525" in op["responses"]["422"]["description"]
