"""The working-day calendar in the service: ``calendar_uncovered`` from /v1/classify through the
stored rows (SQLite and PostgreSQL, migration 0005) to the item views and decisions; the gauge
``triage_calendar_covered_until``; the warning at start and daily; /readyz's ``calendar``."""
from __future__ import annotations

import logging
import re
import shutil
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import yaml
from alembic import command
from alembic.config import Config
from sqlalchemy import inspect, select

from classifier.calendar_cli import import_schedule
from serving import calendar_watch
from serving.db import engine as db
from serving.db.tables import Classification, ItemRevision
from fakes import first_release_row  # noqa: E402

LAST = max(chinese_calendar.constants.holidays).year  # the package's last year (2026 for 1.11)
NEXT = LAST + 1
SH = ZoneInfo("Asia/Shanghai")
REPO = Path(__file__).resolve().parents[2]


def items() -> list[dict]:
    # P4 (5 working days): from 12-30 they run into the next year, which nobody knows.
    return [{"id": "june", "text": "转账失败", "received_at": f"{LAST}-06-01T10:00:00+08:00"},
            {"id": "new-year", "text": "转账失败 不确定", "received_at": f"{LAST}-12-30T10:00:00+08:00"}]


def metric(api, name: str) -> float | None:
    text = api.client.get("/metrics").text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    return float(found.group(1)) if found else None


def test_calendar_uncovered_end_to_end(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    r = api.classify(items())
    assert r.status_code == 200, r.text
    june, new_year = r.json()["results"]
    assert june["priority"]["calendar_uncovered"] is False
    assert new_year["priority"]["calendar_uncovered"] is True
    assert new_year["priority"]["resolve_by"].startswith(f"{NEXT}-01-")
    assert metric(api, "triage_calendar_uncovered_deadlines_total") == 1.0

    with api.services.sessions() as session:
        rows = {row.item_id: row for row in session.scalars(select(Classification))}
    assert rows["june"].calendar_uncovered is False and rows["new-year"].calendar_uncovered is True

    # the stored item, as the queue and the item endpoints show it
    h = api.headers("supervisor")
    queue = api.client.get("/v1/review", headers=h).json()["items"]
    assert [(i["item_id"], i["priority"]["calendar_uncovered"]) for i in queue] == [("new-year", True)]
    item_id = rows["new-year"].id
    item = api.client.get(f"/v1/items/{item_id}", headers=h).json()
    assert item["priority"]["calendar_uncovered"] is True
    assert item["history"][0]["priority"]["calendar_uncovered"] is True

    # a decision re-runs the rules: P2 (10 working days) from 12-30 is uncovered too; the
    # revisions keep the flag of each state, and an undo restores it
    decided = api.client.post(f"/v1/items/{item_id}/review", headers=h,
                              json={"category": "fees", "sentiment": "negative", "revision": 0})
    assert decided.status_code == 200, decided.text
    assert decided.json()["priority"]["level"] == "P2" and decided.json()["priority"]["calendar_uncovered"] is True
    with api.services.sessions() as session:
        states = session.scalars(select(ItemRevision).where(ItemRevision.classification_id == item_id)
                                 .order_by(ItemRevision.revision)).all()
    assert [(s.kind, s.calendar_uncovered) for s in states] == [("prediction", True), ("review", True)]
    undone = api.client.post(f"/v1/items/{item_id}/undo", headers=h, json={"revision": 1})
    assert undone.status_code == 200 and undone.json()["priority"]["calendar_uncovered"] is True


def test_a_decision_on_a_covered_item_clears_nothing_it_should_not(make_client, fake_classifier):
    api = make_client(fake_classifier)
    api.classify([{"id": "june", "text": "转账失败 不确定", "received_at": f"{LAST}-06-01T10:00:00+08:00"}])
    h = api.headers("supervisor")
    item_id = api.client.get("/v1/review", headers=h).json()["items"][0]["id"]
    decided = api.client.post(f"/v1/items/{item_id}/review", headers=h, json={"revision": 0}).json()
    assert decided["priority"]["calendar_uncovered"] is False


def test_migration_0005_adds_the_column_to_existing_rows(make_client, fake_classifier, db_url):
    engine = db.make_engine(db_url)
    db.migrate(engine, "0004_supervisor")
    now = datetime(2026, 11, 23, 8, 0)
    old = first_release_row(now)
    with engine.begin() as conn:  # the columns revision 0004 has
        conn.execute(Classification.__table__.insert(), [old])
    engine.dispose()
    api = make_client(fake_classifier, database_url=db_url)  # start-up migrates to head
    api.classify(items()[1:])
    with api.services.sessions() as session:
        rows = session.scalars(select(Classification).order_by(Classification.id)).all()
    assert [(r.item_id, r.calendar_uncovered) for r in rows] == [("old", False), ("new-year", True)]
    engine = db.make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS_DIR))
    with engine.begin() as conn:  # and back down
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004_supervisor")
    with engine.connect() as conn:
        assert "calendar_uncovered" not in {c["name"] for c in inspect(conn).get_columns("classifications")}
        assert "calendar_uncovered" not in {c["name"] for c in inspect(conn).get_columns("item_revisions")}
    engine.dispose()


# --- coverage: gauge, /readyz, warnings ------------------------------------------------------------


def on(monkeypatch, day: date) -> None:
    monkeypatch.setattr(calendar_watch, "today", lambda matrix: day)


def midnight(day: str) -> float:
    return datetime.fromisoformat(day).replace(tzinfo=SH).timestamp()


def test_gauge_and_readyz_when_the_window_is_not_covered(make_client, fake_classifier, monkeypatch):
    on(monkeypatch, date(LAST, 12, 7))
    api = make_client(fake_classifier)
    assert metric(api, "triage_calendar_covered_until") == midnight(f"{LAST}-12-31")
    r = api.client.get("/readyz")
    assert r.status_code == 200  # a missing year is not an outage
    cal = r.json()["calendar"]
    assert cal["ok"] is False and cal["uncovered_years"] == [NEXT] and cal["covered_until"] == f"{LAST}-12-31"
    assert cal["window_days"] == 60 and cal["affected_from"] == f"{LAST}-12-18"  # P1/P2: 10 working days
    assert str(NEXT) in cal["message"] and f"{NEXT} 年的节假日安排尚未录入" in cal["message_zh"]

    on(monkeypatch, date(LAST, 6, 1))
    cal = api.client.get("/readyz").json()["calendar"]
    assert cal["ok"] is True and cal["uncovered_years"] == [] and cal["affected_from"] is None


def test_an_imported_schedule_moves_the_gauge(make_client, fake_classifier, monkeypatch, tmp_path):
    config = tmp_path / "priority.yaml"
    shutil.copyfile(REPO / "configs" / "priority.yaml", config)
    schedule = tmp_path / "next.yaml"
    schedule.write_text(yaml.safe_dump({"year": NEXT, "notice": "示例：并非真实通知", "festivals": [
        {"name": "元旦", "holidays": [f"{NEXT}-01-01"]}]}, allow_unicode=True), encoding="utf-8")
    import_schedule(config, schedule)
    on(monkeypatch, date(LAST, 12, 7))
    api = make_client(fake_classifier, priority_config=config)
    assert metric(api, "triage_calendar_covered_until") == midnight(f"{NEXT}-12-31")
    assert api.client.get("/readyz").json()["calendar"]["ok"] is True
    result = api.classify(items()[1:]).json()["results"][0]
    assert result["priority"]["calendar_uncovered"] is False


def test_warning_at_start_and_on_every_check(make_client, fake_classifier, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="triage.calendar")
    on(monkeypatch, date(LAST, 12, 7))
    make_client(fake_classifier, calendar_check_interval_seconds=0.05)

    def warnings() -> list[logging.LogRecord]:
        return [r for r in caplog.records if r.name == "triage.calendar" and r.levelno == logging.WARNING]

    assert len(warnings()) >= 1  # at start, before the first request
    deadline = time.monotonic() + 10
    while len(warnings()) < 3:
        assert time.monotonic() < deadline, "no repeated warning"
        time.sleep(0.05)
    record = warnings()[0]
    assert str(NEXT) in record.getMessage() and "triage calendar import" in record.getMessage()
    assert record.uncovered_years == [NEXT] and record.covered_until == f"{LAST}-12-31"


def test_no_warning_while_covered(make_client, fake_classifier, monkeypatch, caplog):
    caplog.set_level(logging.WARNING, logger="triage.calendar")
    on(monkeypatch, date(LAST, 6, 1))
    make_client(fake_classifier, calendar_check_interval_seconds=0.05)
    time.sleep(0.3)
    assert not [r for r in caplog.records if r.name == "triage.calendar"]
