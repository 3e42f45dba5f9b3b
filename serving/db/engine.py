"""Database engine, sessions, migrations and a liveness probe.

SQLite (a file, the default) and PostgreSQL (``DATABASE_URL``) share one code path; the
differences handled here: driver names in URLs, SQLite's per-thread connections and locking,
and serialising concurrent migrations on PostgreSQL (several workers may start at once).
"""
from __future__ import annotations

import logging
import math
import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from serving.db import watch as dbwatch

log = logging.getLogger("triage.db")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Arbitrary constant: the advisory-lock id that serialises `alembic upgrade` across processes.
_MIGRATION_LOCK_ID = 72_513_001


def normalize_url(url: str) -> str:
    """Pick the psycopg 3 driver for bare PostgreSQL URLs (SQLAlchemy's default is psycopg2)."""
    if url.startswith("postgres://"):  # Heroku-style scheme
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def make_engine(url: str, timeout: float = 5.0) -> Engine:
    """An engine whose every wait is bounded by ``timeout`` seconds (connect, statement, locks,
    pool checkout; a frozen server is caught by serving/db/watch.py). ``hide_parameters``: a
    failed statement's message never carries its values (customer text, notes) into a log."""
    url = normalize_url(url)
    parsed = make_url(url)
    ms = max(1, int(timeout * 1000))
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(
            url, pool_size=5, max_overflow=10, pool_timeout=timeout, hide_parameters=True,
            connect_args={
                "connect_timeout": max(1, math.ceil(timeout)),  # libpq: whole handshake, integer seconds
                "options": f"-c statement_timeout={ms} -c lock_timeout={ms} "
                           f"-c idle_in_transaction_session_timeout={max(ms, 60_000)}",
            },
        )
        dbwatch.watch(engine, ping=True)  # replaces pool_pre_ping, inside the stall watch
        return engine

    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        path = Path(parsed.database).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        _private_file(path)
    engine = create_engine(
        url,
        hide_parameters=True,
        # Requests run in a thread pool; SQLAlchemy's pool keeps each connection on one thread at a time.
        connect_args={"check_same_thread": False, "timeout": timeout},
        # An in-memory database exists per connection: share one so every session sees the same data.
        poolclass=StaticPool if memory else None,
        pool_timeout=timeout,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
        cur = dbapi_conn.cursor()
        if not memory:
            # WAL lets readers (matrix, metrics) proceed while a request writes. FULL: a commit is
            # on disk (WAL fsynced) before the client hears of it; NORMAL could lose the last
            # acknowledged commits on power failure (a few hundred µs per commit here).
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=FULL")
        cur.execute(f"PRAGMA busy_timeout={ms}")
        cur.close()

    dbwatch.watch(engine, ping=False)
    return engine


def _private_file(path: Path) -> None:
    """Create the database file readable by its owner only (0600); tighten an existing one we own.
    SQLite gives its -wal and -shm files the database file's permissions."""
    try:
        os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
        if path.stat().st_uid == os.getuid():
            os.chmod(path, 0o600)
    except OSError as exc:  # read-only mount, someone else's file: leave it, SQLite reports real problems
        log.warning("cannot restrict permissions of %s: %s", path.name, exc.strerror)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Apply Alembic migrations up to ``revision`` (idempotent; a no-op when up to date)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Transaction-scoped: released when this `begin()` block commits.
            # A migration may wait for another worker's and build indexes on big tables: the
            # request-path timeouts (make_engine) do not apply to it.
            conn.execute(text("SET LOCAL statement_timeout = 0"))
            conn.execute(text("SET LOCAL lock_timeout = 0"))
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def ping(engine: Engine) -> bool:
    """True when a trivial query succeeds (used by /readyz)."""
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        log.warning("database ping failed: %s", type(exc).__name__)
        return False
