"""Idempotency-Key on decisions and undo (POST /v1/items/{id}/review, /undo): a retry after a lost
answer gets the committed change's stored answer instead of 409 E542; the same key with another
body or on another item is 409 E524. SQLite and PostgreSQL."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from serving.db.tables import ItemRevision


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
