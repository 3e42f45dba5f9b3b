"""Results are stored (masked) through the migrations, on SQLite and on a real PostgreSQL."""
from __future__ import annotations

import json
import threading
import time

from sqlalchemy import inspect, select, text

from serving.db import engine as db
from serving.db.tables import Base, Classification
from fakes import first_release_row  # noqa: E402

PII_TEXT = "我的卡号6222021234567890123被盗刷，手机13812345678，身份证110101199003071234，邮箱zhang@163.com"


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    (head,) = ScriptDirectory.from_config(cfg).get_heads()  # one head: the chain has no branches
    return head


def test_migrations_create_the_model_schema_and_are_idempotent(db_url):
    engine = db.make_engine(db_url)
    try:
        db.migrate(engine)
        db.migrate(engine)  # second run is a no-op
        from alembic.autogenerate import compare_metadata
        from alembic.migration import MigrationContext

        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head()
        assert {"api_keys", "classifications", "idempotency_keys", "item_revisions"} <= set(inspect(engine).get_table_names())
        assert db.ping(engine)
    finally:
        engine.dispose()


def test_a_database_of_the_first_release_upgrades_with_its_rows(make_client, fake_classifier, db_url):
    from datetime import datetime

    engine = db.make_engine(db_url)
    db.migrate(engine, "0001")
    now = datetime(2026, 11, 23, 8, 0)
    old = first_release_row(now)
    with engine.begin() as conn:  # only the columns release 0001 had
        conn.execute(Classification.__table__.insert(), [old])
    engine.dispose()
    api = make_client(fake_classifier, database_url=db_url)  # start-up migrates to head
    api.classify([{"id": "new", "text": "转账失败 不确定"}])
    with api.services.sessions() as session:
        rows = session.scalars(select(Classification).order_by(Classification.id)).all()
    assert [r.item_id for r in rows] == ["old", "new"]
    assert all(r.reviewed_labels is None and r.reviewed_by is None and r.review_note is None for r in rows)
    queue = api.client.get("/v1/review", headers=api.headers("supervisor")).json()
    # both queued at P4; inside a level the likelier urgent first: the new item's P(high) is 0.05, the old
    # row stored no scores (sort_risk 1.0, migration 0011)
    assert [i["item_id"] for i in queue["items"]] == ["new", "old"]
    assert [r.sort_risk for r in rows] == [1.0, 0.95]


def test_classify_stores_masked_results(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    r = api.classify(
        [{"id": "a", "text": PII_TEXT, "metadata": {"channel": "app", "contact": "13912345678", "amount": 12.5}},
         {"id": "b", "text": "信用卡年费乱收费 不确定\x00"}],
        headers={"X-Request-ID": "req-1"},
    )
    assert r.status_code == 200, r.text
    with api.services.sessions() as session:
        rows = session.scalars(select(Classification).order_by(Classification.id)).all()
    assert [row.item_id for row in rows] == ["a", "b"]
    a, b = rows
    assert a.request_id == b.request_id == "req-1"
    for secret in ("6222021234567890123", "13812345678", "110101199003071234", "zhang@163.com", "13912345678"):
        assert secret not in a.text_masked
        assert secret not in json.dumps(a.metadata_masked, ensure_ascii=False)
    assert "138****5678" in a.text_masked
    assert a.metadata_masked == {"channel": "app", "contact": "139****5678", "amount": 12.5}
    assert a.channel == "app"
    assert b.text_masked == "信用卡年费乱收费 不确定"  # NUL dropped (PostgreSQL text cannot hold it)
    res = r.json()["results"]
    assert a.predictions["category"] == res[0]["category"]
    assert a.model_version == fake_classifier.model_version
    assert (b.category, b.sentiment, b.urgency) == ("fees", "neutral", "low")
    assert b.quadrant == res[1]["priority"]["quadrant"] and b.level == res[1]["priority"]["level"]
    assert b.route == res[1]["route"] == "billing"
    assert b.needs_review is True and a.needs_review is False
    assert b.reviewed_at is None and b.created_at is not None and b.received_at is not None
    assert a.api_key_id is not None


def test_review_queue(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": "x", "text": "转账失败 不确定"}, {"id": "y", "text": "转账失败"}, {"id": "z", "text": "不确定 哈哈"}])
    h = api.headers("supervisor")
    queue = api.client.get("/v1/review", headers=h).json()
    assert queue["total"] == 2
    assert [i["item_id"] for i in queue["items"]] == ["x", "z"]
    assert queue["items"][0]["predictions"]["review_heads"] == ["category"]
    first = queue["items"][0]["id"]
    outcome = api.client.post(f"/v1/review/{first}", headers=h).json()
    assert {k: outcome[k] for k in ("id", "reviewed", "corrected", "labels")} == {
        "id": first, "reviewed": True, "corrected": [],
        "labels": {"category": "product_service", "category_secondary": None, "sentiment": "neutral", "urgency": "medium"},
    }
    assert api.client.post(f"/v1/review/{first}", headers=h).status_code == 404
    assert api.client.get("/v1/review", headers=h).json()["total"] == 1
    assert 'triage_review_queue_depth 1.0' in api.client.get("/metrics").text


def test_keys_created_by_the_cli_work_against_the_same_database(make_client, fake_classifier, db_url, monkeypatch, capsys):
    from classifier.cli import main

    api = make_client(fake_classifier, database_url=db_url)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["keys", "create", "--role", "ingest", "--name", "crm"]) == 0
    key = capsys.readouterr().out.strip()
    r = api.client.post("/v1/classify", json={"items": [{"id": "1", "text": "转账失败"}]}, headers={"X-API-Key": key})
    assert r.status_code == 200


def test_readyz_reports_an_unreachable_database(make_client, fake_classifier):
    api = make_client(fake_classifier, ready_database_grace_seconds=0)
    api.services.engine.dispose()
    bad = db.make_engine("postgresql://nobody@127.0.0.1:1/none")
    api.services.engine = bad
    r = api.client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "E520"
    assert r.json()["error"]["details"] == {"model": True, "database": False}


def test_readyz_stays_ready_through_a_database_blip_shorter_than_the_grace(make_client, fake_classifier):
    """Issue 28: every pod probes the same database, so a 10 s blip emptied the Service."""
    api = make_client(fake_classifier, ready_database_grace_seconds=30)
    good = api.services.engine
    api.services.engine = db.make_engine("postgresql://nobody@127.0.0.1:1/none")
    r = api.client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] == "unreachable"
    api.services.database_unreachable_since -= 29  # still within the grace
    assert api.client.get("/readyz").status_code == 200
    api.services.database_unreachable_since -= 2  # down for 31 s
    r = api.client.get("/readyz")
    assert r.status_code == 503 and r.json()["error"]["code"] == "E520" and "31 s" in r.json()["error"]["message"]
    api.services.engine.dispose()
    api.services.engine = good  # back: ready at once, and the next blip gets the whole grace again
    r = api.client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] == "ok"
    assert api.services.database_unreachable_since is None


def test_concurrent_requests_share_one_transaction_and_each_gets_its_rows(make_client, fake_classifier, sqlite_url):
    """Group commit: rows of requests that wait together are written in one transaction."""
    from concurrent.futures import ThreadPoolExecutor

    from sqlalchemy import event

    api = make_client(fake_classifier, database_url=sqlite_url)
    commits = []
    event.listen(api.services.engine, "commit", lambda conn: commits.append(1))
    real_save = api.services.writer.process
    gate = threading.Event()

    def slow_first(rows):  # hold the first write so the others queue up behind it
        gate.wait(2)
        return real_save(rows)

    api.services.writer.process = slow_first
    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(api.classify, [{"id": f"i{i}", "text": f"转账失败{i}"}]) for i in range(8)]
        time.sleep(0.3)
        gate.set()
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * 8
    with api.services.sessions() as session:
        stored = sorted(session.scalars(select(Classification.item_id)).all())
    assert stored == sorted(f"i{i}" for i in range(8))
    assert len(commits) < 8, commits


def test_a_failing_database_write_is_a_503_with_the_error_schema(make_client, fake_classifier, sqlite_url):
    api = make_client(fake_classifier, database_url=sqlite_url)
    with api.services.engine.begin() as conn:
        conn.execute(text("DROP TABLE classifications"))
    r = api.classify([{"id": "a", "text": "转账失败"}])
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "E522"
    assert "Traceback" not in r.text
