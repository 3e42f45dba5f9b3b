"""Decisions and undo address a revision (E546 without one), and a retried undo is not a toggle."""
from __future__ import annotations

from sqlalchemy import select

from serving.db.tables import Classification, ItemRevision


def _item(api, text="年费 不确定") -> int:
    assert api.classify([{"id": "d", "text": text}]).status_code == 200
    with api.services.sessions() as session:
        return session.scalars(select(Classification.id)).one()


def _error(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    return r.json()["error"]


def test_a_decision_or_undo_without_a_revision_is_refused(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    item, h = _item(api), api.headers("supervisor")
    for body in ({}, {"urgency": "high"}, None):
        error = _error(api.client.post(f"/v1/items/{item}/review", headers=h, json=body), 422, "E546")
        assert error["details"] == [{"loc": ["body", "revision"], "type": "missing"}] and "revision" in error["message"]
    assert api.client.post(f"/v1/items/{item}/review", headers=h, json={"urgency": "high", "revision": 0}).status_code == 200
    _error(api.client.post(f"/v1/items/{item}/undo", headers=h), 422, "E546")
    _error(api.client.post(f"/v1/items/{item}/undo", headers=h, json={}), 422, "E546")
    with api.services.sessions() as session:  # nothing was written by the refused calls
        assert session.get(Classification, item).revision == 1


def test_a_retried_undo_answers_the_item_and_undoes_nothing_more(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    item, h = _item(api), api.headers("supervisor")
    api.client.post(f"/v1/items/{item}/review", headers=h, json={"category": "contract_legal", "revision": 0})
    api.client.post(f"/v1/items/{item}/review", headers=h, json={"urgency": "high", "revision": 1})
    first = api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 2})
    assert first.status_code == 200, first.text
    retry = api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 2})  # the answer was lost
    assert retry.status_code == 200, retry.text
    assert retry.json()["revision"] == first.json()["revision"] == 3
    assert retry.json()["labels"] == first.json()["labels"] and first.json()["labels"]["category"] == "contract_legal"
    with api.services.sessions() as session:
        kinds = list(session.scalars(select(ItemRevision.kind).where(ItemRevision.classification_id == item)
                                     .order_by(ItemRevision.revision)))
    assert kinds == ["prediction", "review", "review", "undo"]
    # another supervisor's undo on the old revision is stale, not a retry of theirs
    _error(api.client.post(f"/v1/items/{item}/undo", headers=api.headers("admin"), json={"revision": 2}), 409, "E542")
    # undoing again is a new call on the current revision
    again = api.client.post(f"/v1/items/{item}/undo", headers=h, json={"revision": 3})
    assert again.status_code == 200 and again.json()["revision"] == 4
