"""Database engine, sessions, migrations and a liveness probe.

SQLite (a file, the default) and PostgreSQL (``DATABASE_URL``) share one code path; the
differences handled here: driver names in URLs, SQLite's per-thread connections and locking,
and serialising concurrent migrations on PostgreSQL (several workers may start at once).
"""
from __future__ import annotations

import logging
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

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


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)

    memory = parsed.database in (None, "", ":memory:")
    if not memory:
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        # Requests run in a thread pool; SQLAlchemy's pool keeps each connection on one thread at a time.
        connect_args={"check_same_thread": False, "timeout": 30},
        # An in-memory database exists per connection: share one so every session sees the same data.
        poolclass=StaticPool if memory else None,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_conn, _record):  # noqa: ANN001
        cur = dbapi_conn.cursor()
        if not memory:
            # WAL lets readers (matrix, metrics) proceed while a request writes.
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    return engine


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
