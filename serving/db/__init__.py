"""Persistence: the engine, the tables, derived columns, the request watch, the shared store of
classifications and the self-contained Alembic migrations."""
