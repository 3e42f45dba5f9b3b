"""Idempotency-Key on POST /v1/classify (serving/http/idempotency.py), on SQLite and PostgreSQL: a
retry stores one copy and gets the first response back; a reused key with another body is 409."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from serving.db.tables import Classification, IdempotencyRecord

ITEMS = [{"id": "T-1", "text": "信用卡年费没经过我同意就扣了"}, {"id": "T-2", "text": "手机银行转账失败"}]


@pytest.fixture
def db_api(make_client, fake_classifier, db_url):
    return make_client(fake_classifier, db_url)


def rows(api, item_id: str | None = None) -> int:
    stmt = select(func.count()).select_from(Classification)
    if item_id:
        stmt = stmt.where(Classification.item_id == item_id)
    with api.services.sessions() as s:
        return s.scalar(stmt)


def test_retry_with_the_same_key_returns_the_stored_response_and_stores_nothing(db_api):
    first = db_api.classify(ITEMS, headers={"Idempotency-Key": "ticket-batch-1"})
    assert first.status_code == 200 and "idempotent-replayed" not in first.headers
    for _ in range(3):
        again = db_api.classify(ITEMS, headers={"Idempotency-Key": "ticket-batch-1"})
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()  # the stored body, deadlines included
    assert rows(db_api) == 2
    # Key order and whitespace do not make another body.
    same = db_api.client.post("/v1/classify", content='{ "items" : [%s, %s] }' % tuple(
        '{"text": "%s", "id": "%s"}' % (i["text"], i["id"]) for i in ITEMS),
        headers={**db_api.headers("ingest"), "Content-Type": "application/json", "Idempotency-Key": "ticket-batch-1"})
    assert same.status_code == 200 and same.json() == first.json()
    assert rows(db_api) == 2
    # Without a key every request is stored (the old behaviour).
    db_api.classify(ITEMS)
    assert rows(db_api) == 4


def test_same_key_with_another_body_is_409(db_api):
    assert db_api.classify(ITEMS, headers={"Idempotency-Key": "k1"}).status_code == 200
    r = db_api.classify(ITEMS[:1], headers={"Idempotency-Key": "k1"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "E524"
    assert rows(db_api) == 2


def test_keys_are_per_api_key(db_api):
    from serving.security.auth import create_key

    with db_api.services.sessions.begin() as s:
        other = create_key(s, "ingest")[1]
    assert db_api.classify(ITEMS, headers={"Idempotency-Key": "shared"}).status_code == 200
    r = db_api.client.post("/v1/classify", json={"items": ITEMS[:1]},
                           headers={"Authorization": f"Bearer {other}", "Idempotency-Key": "shared"})
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert rows(db_api) == 3


@pytest.mark.parametrize("key", ["", "a" * 129, "has space", "中文".encode("utf-8")])
def test_malformed_keys_are_e525(api, key):
    r = api.client.post("/v1/classify", json={"items": ITEMS}, headers={**api.headers("ingest"), "Idempotency-Key": key})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E525"
    assert rows(api) == 0


def test_concurrent_first_attempts_store_once(db_api):
    def send(_):
        return db_api.classify(ITEMS, headers={"Idempotency-Key": "raced"})

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(send, range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.text for r in responses}) == 1
    assert rows(db_api, "T-1") == 1


def test_after_the_window_a_key_may_be_used_again(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url, idempotency_window_seconds=60)
    assert api.classify(ITEMS, headers={"Idempotency-Key": "old"}).status_code == 200
    with api.services.sessions.begin() as s:  # as if sent two minutes ago
        s.execute(update(IdempotencyRecord).values(created_at=IdempotencyRecord.created_at - timedelta(minutes=2)))
    r = api.classify(ITEMS[:1], headers={"Idempotency-Key": "old"})
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert rows(api) == 3
    with api.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1


def test_expired_records_of_other_keys_are_purged(make_client, fake_classifier, db_url, monkeypatch):
    from serving.http import idempotency

    api = make_client(fake_classifier, db_url, idempotency_window_seconds=60)
    for key in ("old-1", "old-2"):
        assert api.classify(ITEMS, headers={"Idempotency-Key": key}).status_code == 200
    with api.services.sessions.begin() as s:  # as if sent two minutes ago
        s.execute(update(IdempotencyRecord).values(created_at=IdempotencyRecord.created_at - timedelta(minutes=2)))
    monkeypatch.setattr(idempotency, "_last_purge", None)  # due now, whatever other tests did
    assert api.classify(ITEMS[:1], headers={"Idempotency-Key": "new"}).status_code == 200
    with api.services.sessions() as s:
        assert s.scalars(select(IdempotencyRecord.key)).all() == ["new"]
    # Not again within PURGE_INTERVAL: an expired record written meanwhile waits for the next purge.
    with api.services.sessions.begin() as s:
        s.execute(update(IdempotencyRecord).values(created_at=IdempotencyRecord.created_at - timedelta(minutes=2)))
    assert api.classify(ITEMS[:1], headers={"Idempotency-Key": "newer"}).status_code == 200
    with api.services.sessions() as s:
        assert sorted(s.scalars(select(IdempotencyRecord.key)).all()) == ["new", "newer"]
