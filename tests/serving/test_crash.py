"""Issue 13: kill -9 of a real server process during classify and review streams loses nothing
that was acknowledged, on SQLite (WAL, synchronous=FULL) and PostgreSQL; the service starts again
on the same database.

The server is `python -m uvicorn serving.app:serve_app --factory` (what `triage serve` runs) on the
tiny bundle with every item watched for review, so that reviews have a queue to work on.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from serving.db import engine as db
from serving.security.auth import create_key
from serving.db.tables import Classification

REPO = Path(__file__).resolve().parents[2]


def start_server(url: str, bundle: Path, port: int, log: Path) -> subprocess.Popen:
    env = {**os.environ, "TRIAGE_DATABASE_URL": url, "TRIAGE_BUNDLE_DIR": str(bundle), "TRIAGE_RATE_LIMIT_PER_MINUTE": "0",
           "TRIAGE_LOG_LEVEL": "WARNING", "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "serving.app:serve_app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log"], cwd=REPO, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"server did not start: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def test_kill_9_during_classify_and_review_loses_nothing_acknowledged(db_url, watched_bundle, tmp_path):
    from pg_own import free_port

    engine = db.make_engine(db_url)
    db.migrate(engine)
    with db.make_sessionmaker(engine).begin() as s:
        ingest, supervisor = create_key(s, "ingest")[1], create_key(s, "supervisor")[1]
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    server = start_server(db_url, watched_bundle, port, log)

    acked_items: list[str] = []
    acked_reviews: list[int] = []
    stop = threading.Event()

    def classify_stream():
        n = 0
        with httpx.Client(base_url=base, timeout=5, headers={"Authorization": f"Bearer {ingest}"}) as c:
            while not stop.is_set():
                ids = [f"k{n}-{i}" for i in range(4)]
                n += 1
                try:
                    r = c.post("/v1/classify", json={"items": [{"id": i, "text": f"信用卡年费扣了{i}"} for i in ids]})
                except httpx.HTTPError:
                    continue
                if r.status_code == 200:
                    acked_items.extend(ids)

    def review_stream():
        with httpx.Client(base_url=base, timeout=5, headers={"Authorization": f"Bearer {supervisor}"}) as c:
            while not stop.is_set():
                try:
                    queue = c.get("/v1/review", params={"limit": 5}).json().get("items", [])
                    for item in queue:
                        if c.post(f"/v1/review/{item['id']}", json={"urgency": "high"}).status_code == 200:
                            acked_reviews.append(item["id"])
                except (httpx.HTTPError, ValueError):
                    time.sleep(0.02)

    threads = [threading.Thread(target=classify_stream), threading.Thread(target=classify_stream),
               threading.Thread(target=review_stream)]
    try:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 20
        while (len(acked_items) < 40 or len(acked_reviews) < 10) and time.monotonic() < deadline:
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)  # mid-stream: requests are in flight
        server.wait(10)
    finally:
        stop.set()
        for t in threads:
            t.join(10)
        if server.poll() is None:
            server.kill()
    assert len(acked_items) >= 40 and len(acked_reviews) >= 10, (len(acked_items), len(acked_reviews))

    with db.make_sessionmaker(engine)() as s:
        stored = set(s.scalars(select(Classification.item_id)))
        reviewed = {i: at for i, at in s.execute(select(Classification.id, Classification.reviewed_at)
                                                 .where(Classification.id.in_(acked_reviews)))}
    missing = [i for i in acked_items if i not in stored]
    assert not missing, f"{len(missing)} acknowledged items lost"
    assert all(reviewed.get(i) is not None for i in acked_reviews), "acknowledged review decisions lost"
    print(f"kill -9: {len(acked_items)} acknowledged items and {len(acked_reviews)} decisions, all stored")

    server = start_server(db_url, watched_bundle, port, log)  # starts again on the same database
    try:
        r = httpx.post(f"{base}/v1/classify", json={"items": [{"id": "after", "text": "年费"}]},
                       headers={"Authorization": f"Bearer {ingest}"}, timeout=10)
        assert r.status_code == 200, r.text
    finally:
        server.terminate()
        server.wait(20)
        engine.dispose()
