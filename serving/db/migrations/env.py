"""Alembic environment. Run programmatically by serving.db.engine.migrate, which passes a connection
in ``config.attributes["connection"]`` (there is no alembic.ini: the URL is the service's own)."""
from __future__ import annotations

from alembic import context

from serving.db.tables import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:  # `alembic` CLI use: build an engine from the service settings
        from serving.db.engine import make_engine
        from serving.settings import Settings

        engine = make_engine(Settings().database_url, timeout=3600)  # DDL on big tables takes its time
        with engine.begin() as connection:
            _run(connection)
        return
    _run(connection)


def _run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables when needed.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (SQL script) migrations are not supported; run `triage serve` or `triage keys list`")
run_migrations_online()
