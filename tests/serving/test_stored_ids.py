"""Classify answers each stored item's id (also on an Idempotency-Key replay), and the optional
dedup of a caller's item id (TRIAGE_DEDUP_ITEM_ID_SECONDS) answers a resent ticket from the store."""
from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import func, select, update

from serving.db.tables import Classification, IdempotencyRecord
from serving.classify.schemas import ClassifyResponse

ITEMS = [{"id": "TK-1", "text": "信用卡年费 不确定"}, {"id": "TK-2", "text": "手机银行转账失败"}]


def _count(api, item_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(Classification)
    if item_id:
        stmt = stmt.where(Classification.item_id == item_id)
    with api.services.sessions() as s:
        return s.scalar(stmt)


def test_classify_answers_the_stored_ids_also_on_a_replay(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url)
    first = api.classify(ITEMS, headers={"Idempotency-Key": "batch-1"})
    assert first.status_code == 200, first.text
    results = ClassifyResponse.model_validate(first.json()).results
    with api.services.sessions() as s:
        stored = {k: v for k, v in s.execute(select(Classification.item_id, Classification.id))}
    assert [r.stored_id for r in results] == [stored["TK-1"], stored["TK-2"]]
    assert not any(r.deduplicated for r in results)
    item = api.client.get(f"/v1/items/{results[0].stored_id}", headers=api.headers("supervisor")).json()
    assert item["item_id"] == "TK-1" and item["text"] == "信用卡年费 不确定"
    again = api.classify(ITEMS, headers={"Idempotency-Key": "batch-1"})
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    # concurrent requests committed together (group commit) each get their own rows' ids
    other = api.classify([{"id": "TK-3", "text": "年费"}])
    assert other.json()["results"][0]["stored_id"] not in stored.values()


def test_a_replay_of_a_response_stored_before_ids_were_answered_gets_them(api):
    first = api.classify(ITEMS, headers={"Idempotency-Key": "old"}).json()
    old = json.loads(json.dumps(first))
    for r in old["results"]:
        del r["stored_id"]
    with api.services.sessions.begin() as s:
        s.execute(update(IdempotencyRecord).values(response=json.dumps(old, ensure_ascii=False)))
    again = api.classify(ITEMS, headers={"Idempotency-Key": "old"})
    assert again.status_code == 200 and again.json() == first


def test_dedup_answers_a_resent_item_id_from_the_store(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url, dedup_item_id_seconds=600)
    first = api.classify(ITEMS).json()["results"]
    # a supervisor decides TK-1 meanwhile: the resend still gets what classify answered
    sup = api.headers("supervisor")
    decided = api.client.post(f"/v1/items/{first[0]['stored_id']}/review", headers=sup,
                              json={"urgency": "high", "revision": 0})
    assert decided.status_code == 200 and decided.json()["priority"]["level"] != first[0]["priority"]["level"]
    r = api.classify([{"id": "TK-9", "text": "年费 投诉"}, {"id": "TK-1", "text": "信用卡年费 不确定"}])
    assert r.status_code == 200, r.text
    body = ClassifyResponse.model_validate(r.json())
    new, resent = r.json()["results"]
    assert resent == {**first[0], "deduplicated": True}
    assert new["deduplicated"] is False and new["id"] == "TK-9" and body.model_version == fake_classifier.model_version
    assert _count(api, "TK-1") == 1 and _count(api) == 3
    # all items resent: nothing is stored, nothing is scored
    calls = len(fake_classifier.calls)
    r = api.classify(ITEMS).json()
    assert [x["stored_id"] for x in r["results"]] == [x["stored_id"] for x in first]
    assert all(x["deduplicated"] for x in r["results"]) and r["model_version"] == fake_classifier.model_version
    assert len(fake_classifier.calls) == calls and _count(api) == 3
    # another API key's same id is its own ticket
    from serving.security.auth import create_key

    with api.services.sessions.begin() as s:
        other = create_key(s, "ingest")[1]
    r = api.client.post("/v1/classify", json={"items": ITEMS[:1]}, headers={"Authorization": f"Bearer {other}"})
    assert r.json()["results"][0]["deduplicated"] is False and _count(api, "TK-1") == 2
    # outside the window it is stored again
    with api.services.sessions.begin() as s:
        s.execute(update(Classification).values(created_at=Classification.created_at - timedelta(seconds=601)))
    r = api.classify(ITEMS[1:]).json()["results"][0]
    assert r["deduplicated"] is False and _count(api, "TK-2") == 2
    assert 'triage_deduplicated_items_total 3.0' in api.client.get("/metrics").text


def test_dedup_is_off_by_default(api):
    api.classify(ITEMS)
    assert api.classify(ITEMS).json()["results"][0]["deduplicated"] is False and _count(api) == 4


def test_with_dedup_on_an_idempotency_key_still_decides(make_client, fake_classifier):
    api = make_client(fake_classifier, dedup_item_id_seconds=600)
    api.classify(ITEMS)
    r = api.classify(ITEMS, headers={"Idempotency-Key": "new-key"})  # a new key is a new request: stored
    assert not any(x["deduplicated"] for x in r.json()["results"]) and _count(api) == 4
