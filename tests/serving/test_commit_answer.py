"""The answer agrees with the database (serving/classify/pipeline.py ``_store``): once a request's rows
are committed it gets 200, even when its database timeout or its request deadline passes while
the commit is under way; a timeout fires only before the write starts, and then nothing is
stored. The wait for SQLite's write lock is cut to the request's remaining time."""
from __future__ import annotations

import sqlite3
import threading
import time

from sqlalchemy import func, select

from serving.db.tables import Classification


def _stored(api) -> int:
    with api.services.sessions() as session:
        return session.scalar(select(func.count()).select_from(Classification))


def _slow_after_commit(api, seconds: float) -> None:
    real = api.services.writer.process

    def commit_then_wait(rows):
        result = real(rows)  # committed here
        time.sleep(seconds)  # ... and the answer is late
        return result

    api.services.writer.process = commit_then_wait


def test_commit_then_database_timeout_returns_200(make_client, fake_classifier, sqlite_url):
    api = make_client(fake_classifier, database_url=sqlite_url, db_timeout_seconds=0.4)
    _slow_after_commit(api, 0.6)
    r = api.classify([{"id": "a", "text": "转账失败"}])
    assert r.status_code == 200, r.text  # before: 503 E522 with the row committed
    assert _stored(api) == 1


def test_commit_then_request_deadline_returns_200(make_client, fake_classifier, sqlite_url):
    api = make_client(fake_classifier, database_url=sqlite_url, request_timeout_seconds=1.0)
    assert api.classify([{"id": "warm", "text": "转账失败"}]).status_code == 200  # threads and connections exist
    _slow_after_commit(api, 1.5)
    r = api.classify([{"id": "a", "text": "转账失败"}])
    assert r.status_code == 200, r.text  # before: 504 E526 with the row committed
    assert _stored(api) == 2


def test_a_write_still_queued_at_the_timeout_is_never_stored(make_client, fake_classifier, sqlite_url):
    api = make_client(fake_classifier, database_url=sqlite_url, db_timeout_seconds=0.3)
    gate = threading.Event()
    busy = api.services.writer.submit([gate])  # holds the writer thread
    real = api.services.writer.process
    api.services.writer.process = lambda rows: [gate.wait(5)] * len(rows) if rows == [gate] else real(rows)
    try:
        r = api.classify([{"id": "a", "text": "转账失败"}])
        assert r.status_code == 503 and r.json()["error"]["code"] == "E522", r.text
    finally:
        gate.set()
        busy.result(5)
    api.services.writer.process = real
    time.sleep(0.2)
    assert _stored(api) == 0  # cancelled while queued: the writer skipped it


def test_the_sqlite_lock_wait_is_bounded_by_the_timeout(make_client, fake_classifier, sqlite_url):
    """Another process holds the write lock: the request answers 503 within about its timeout
    (not the engine's lock timeout on top of it) and stores nothing."""
    api = make_client(fake_classifier, database_url=sqlite_url, db_timeout_seconds=0.5)
    api.classify([{"id": "warm", "text": "转账失败"}])  # the writer's connection exists
    other = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=5)
    other.execute("BEGIN IMMEDIATE")  # holds the write lock
    try:
        start = time.monotonic()
        r = api.classify([{"id": "a", "text": "转账失败"}])
        elapsed = time.monotonic() - start
    finally:
        other.rollback()
        other.close()
    assert r.status_code == 503 and r.json()["error"]["code"] == "E522", r.text
    assert elapsed < 0.5 + 0.5 + 0.4, elapsed  # timeout, plus the grace only a hung server needs, plus slack
    assert _stored(api) == 1
