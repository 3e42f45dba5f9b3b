"""Issue 13, items 3 and 4: a database that is down or frozen gives 503 (with Retry-After and a
code) within the database timeout, never a 500 and never a hang, and the service recovers.

Down: the SQLite file replaced by a folder / the PostgreSQL database closed to connections and its
sessions terminated, while the callers' keys are still in the auth cache. Frozen: a PostgreSQL
server of the test's own stopped with SIGSTOP (every backend too), then SIGCONT.
"""
from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from serving.db.tables import Classification, IdempotencyRecord

DB_ROUTES = [("GET", "/v1/review", "supervisor"), ("GET", "/v1/matrix", "supervisor"),
             ("GET", "/v1/matrix.html", "supervisor"), ("GET", "/v1/review/export", "supervisor")]


@contextmanager
def outage(api, db_url: str):
    """The database unreachable for new and pooled connections; restored on exit."""
    if db_url.startswith("sqlite"):
        path = Path(db_url.removeprefix("sqlite:///"))
        aside = path.with_name("aside")
        aside.mkdir()
        for f in path.parent.glob(path.name + "*"):
            shutil.move(str(f), aside / f.name)
        path.mkdir()  # "unable to open database file"
        api.services.engine.dispose()
        try:
            yield
        finally:
            path.rmdir()
            for f in aside.iterdir():
                shutil.move(str(f), path.parent / f.name)
            api.services.engine.dispose()
    else:
        admin = db_url.rsplit("/", 1)[0] + "/test"
        name = db_url.rsplit("/", 1)[1]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
        try:
            yield
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


def assert_503(r, code: str = "E522") -> None:
    assert r.status_code == 503, (r.status_code, r.text)
    assert r.json()["error"]["code"] == code
    assert "Traceback" not in r.text
    if code == "E522":
        assert int(r.headers["Retry-After"]) >= 1


def test_database_down_with_cached_keys_gives_503_everywhere_and_recovers(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, db_url, auth_cache_seconds=120, db_timeout_seconds=2,
                      ready_database_grace_seconds=0)
    assert api.classify([{"id": "1", "text": "不确定 年费"}]).status_code == 200
    queued = api.client.get("/v1/review", headers=api.headers("supervisor")).json()["items"][0]["id"]
    api.client.get("/v1/matrix", headers=api.headers("admin"))  # caches the admin key too

    with outage(api, db_url):
        for method, path, role in DB_ROUTES:
            assert_503(api.client.request(method, path, headers=api.headers(role)))
        assert_503(api.client.post(f"/v1/review/{queued}", json={"category": "fees"}, headers=api.headers("supervisor")))
        assert_503(api.classify([{"id": "2", "text": "年费"}]))
        assert_503(api.client.get("/readyz"), "E520")
        started = time.monotonic()
        metrics = api.client.get("/metrics")
        assert metrics.status_code == 200 and time.monotonic() - started < 3
        # No value rather than a failed scrape.
        assert not [line for line in metrics.text.splitlines() if line.startswith("triage_review_queue_depth ")]

    for attempt in range(20):  # pools notice the restored database within a request or two
        if api.client.get("/readyz").status_code == 200:
            break
        time.sleep(0.2)
    assert api.client.get("/readyz").status_code == 200
    assert api.classify([{"id": "3", "text": "年费"}]).status_code == 200
    assert api.client.post(f"/v1/review/{queued}", json={"category": "fees"}, headers=api.headers("supervisor")).status_code == 200


def test_frozen_postgres_gives_503_within_the_timeout_and_recovers(make_client, fake_classifier, own_postgres):
    timeout = 1.0
    api = make_client(fake_classifier, own_postgres.url, auth_cache_seconds=300, db_timeout_seconds=timeout,
                      request_timeout_seconds=20, ready_database_grace_seconds=0)
    assert api.classify([{"id": "warm", "text": "不确定 年费"}]).status_code == 200
    queued = api.client.get("/v1/review", headers=api.headers("supervisor")).json()["items"][0]["id"]
    fresh_key = None
    with api.services.sessions.begin() as s:  # a key never looked up: its check needs the database
        from serving.security.auth import create_key
        fresh_key = create_key(s, "supervisor")[1]

    own_postgres.freeze()
    try:
        calls = {
            "classify": lambda: api.classify([{"id": "during", "text": "年费"}], headers={"Idempotency-Key": "T-1"}),
            **{path: (lambda m=method, p=path, r=role: api.client.request(m, p, headers=api.headers(r)))
               for method, path, role in DB_ROUTES},
            "review": lambda: api.client.post(f"/v1/review/{queued}", json={}, headers=api.headers("supervisor")),
            "new key": lambda: api.client.get("/v1/matrix", headers={"X-API-Key": fresh_key}),
            "readyz": lambda: api.client.get("/readyz"),
            "metrics": lambda: api.client.get("/metrics"),
        }

        def timed(call):
            started = time.monotonic()
            r = call()
            return r, time.monotonic() - started

        with ThreadPoolExecutor(len(calls)) as pool:  # all at once, as clients would
            results = dict(zip(calls, pool.map(timed, calls.values())))
        timings = {name: round(t, 2) for name, (_, t) in results.items()}
        print("frozen-database response times (s):", timings)
        for name, (r, _) in results.items():
            if name == "metrics":
                assert r.status_code == 200
            else:
                assert_503(r, "E520" if name == "readyz" else "E522")
        # The timeout, or libpq's 2 s minimum connect timeout for a new connection, plus slack: not 40 s.
        assert max(timings.values()) < max(timeout, 2.0) + 1.5, timings
        assert api.client.get("/healthz").status_code == 200  # the process itself is alive
    finally:
        own_postgres.thaw()

    deadline = time.monotonic() + 20
    while api.client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, "did not recover after SIGCONT"
        time.sleep(0.2)
    # The retry with the same key stores exactly one copy, whether or not the frozen attempt's
    # write went through after the thaw.
    r = api.classify([{"id": "during", "text": "年费"}], headers={"Idempotency-Key": "T-1"})
    assert r.status_code == 200, r.text
    time.sleep(0.5)  # the frozen requests' threads have finished by now
    waiting = [i["id"] for i in api.client.get("/v1/review", headers=api.headers("supervisor")).json()["items"]]
    assert queued in waiting  # the decision answered with 503 rolled back after the thaw, not committed
    with api.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Classification).where(Classification.item_id == "during")) == 1
        assert s.scalar(select(func.count()).select_from(IdempotencyRecord)) == 1
    assert api.client.post(f"/v1/review/{queued}", json={}, headers=api.headers("supervisor")).status_code == 200
