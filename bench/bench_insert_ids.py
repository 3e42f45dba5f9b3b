"""The group-commit insert with the stored ids classify answers (serving/db/store.py), against the
plain executemany it replaced and RETURNING in execute-many form, on SQLite and PostgreSQL.

Each variant inserts N rows in a transaction that is rolled back (the statement's cost, not the
disk's), variants interleaved, median of --repeat. PostgreSQL: the loopback server the tests use
(a database of its own, dropped after); skipped when unreachable.

    python bench/bench_insert_ids.py [--repeat 150] [--rows 4 64 256]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from datetime import datetime

from serving.db import engine as db
from serving.db.derived import margin_of, reasons_column, urgency_risk_of
from serving.db.store import _insert
from serving.db.tables import Classification

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def row(i: int) -> dict:
    head = {"label": "fees", "confidence": 0.9, "scores": {"fees": 0.9, "other": 0.1}}
    at = datetime(2026, 12, 7, 10, 0)
    r = {"request_id": "r", "item_id": f"T-{i}", "api_key_id": 1, "text_masked": "年费" * 20, "metadata": {"channel": "app"},
         "predictions": {"category": head, "sentiment": {**head, "label": "neutral"}, "urgency": {**head, "label": "low"},
                         "category_secondary": None, "review_heads": [], "review_reasons": []},
         "model_version": "m", "category": "fees", "category_secondary": None, "sentiment": "neutral", "urgency": "low",
         "channel": "app", "urgent": False, "important": True, "quadrant": "important_not_urgent", "level": "P2",
         "respond_by": at, "resolve_by": at, "calendar_uncovered": False, "route": "billing", "needs_review": False,
         "reviewed_at": None, "received_at": at, "created_at": at}
    return {"sort_level": r["level"], "sort_reasons": "", **r, "margin": margin_of(r["predictions"]),
            "sort_risk": urgency_risk_of(r["predictions"]), "review_reasons": reasons_column(r["predictions"])}


def plain(conn, rows):  # noqa: ANN001 - before: no ids
    conn.execute(Classification.__table__.insert(), rows)


def returning(conn, rows):  # noqa: ANN001 - RETURNING id in execute-many form, in parameter order
    t = Classification.__table__
    return list(conn.execute(t.insert().returning(t.c.id, sort_by_parameter_order=True), rows).scalars())


def served(conn, rows):  # noqa: ANN001 - what the service does (sequence first on PostgreSQL)
    return _insert(conn, rows, None)


def run(url: str, label: str, sizes: list[int], repeat: int) -> None:
    engine = db.make_engine(url, timeout=5)
    db.migrate(engine)
    variants = (("plain", plain), ("returning", returning), ("served", served))
    try:
        for n in sizes:
            times: dict[str, list[float]] = {name: [] for name, _ in variants}
            for _ in range(repeat):
                for name, insert in variants:
                    rows = [row(i) for i in range(n)]
                    with engine.connect() as conn:
                        trans = conn.begin()
                        start = time.perf_counter()
                        insert(conn, rows)
                        times[name].append(time.perf_counter() - start)
                        trans.rollback()
            print(f"{label:9s} rows={n:4d} " + "  ".join(
                f"{name} {statistics.median(times[name]) * 1e3:6.2f} ms" for name, _ in variants))
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=150)
    parser.add_argument("--rows", type=int, nargs="+", default=[4, 64, 256])
    args = parser.parse_args()
    run(f"sqlite:///{tempfile.mkdtemp()}/bench.db", "sqlite", args.rows, args.repeat)
    try:
        import psycopg

        name = "bench_" + uuid.uuid4().hex[:8]
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3) as c:
            c.execute(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # noqa: BLE001
        print(f"postgres  skipped: {type(exc).__name__}")
        return
    try:
        run(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", "postgres", args.rows, args.repeat)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
