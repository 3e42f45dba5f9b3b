"""Shared fixtures for the service tests.

* ``tiny_classifier``: the real runtime on the committed tiny bundle, loaded once per session.
* ``fake_classifier``: keyword rules with known outputs, for tests that assert on labels.
* ``make_client``: builds an app on a fresh database (SQLite file, or PostgreSQL through the
  ``db_url`` fixture) and returns a started TestClient plus keys for every role.
"""
from __future__ import annotations

import sys
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))  # fakes.py

from fakes import FakeClassifier  # noqa: E402

from serving.app import create_app  # noqa: E402
from serving.security.auth import ROLES, create_key  # noqa: E402
from serving.settings import Settings  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TINY_BUNDLE = REPO / "tests" / "fixtures" / "tiny_bundle"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def tiny_classifier():
    if not (TINY_BUNDLE / "manifest.json").exists():
        pytest.skip("tests/fixtures/tiny_bundle is not there yet")
    from classifier.runtime import Classifier

    return Classifier.load(TINY_BUNDLE)


@pytest.fixture
def fake_classifier() -> FakeClassifier:
    return FakeClassifier()


@dataclass
class Api:
    client: TestClient
    app: Any
    keys: dict[str, str]  # role -> key
    settings: Settings

    def headers(self, role: str = "admin", style: str = "bearer") -> dict[str, str]:
        key = self.keys[role]
        return {"Authorization": f"Bearer {key}"} if style == "bearer" else {"X-API-Key": key}

    @property
    def services(self):
        return self.app.state.services

    def classify(self, items: list[dict], role: str = "ingest", headers: dict | None = None, **kwargs):
        return self.client.post("/v1/classify", json={"items": items}, headers={**self.headers(role), **(headers or {})},
                                **kwargs)


def _sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'triage.db'}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return _sqlite_url(tmp_path)


def _pg_reachable() -> str | None:
    try:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001
        return f"PostgreSQL at {PG_ADMIN_URL} unreachable: {type(exc).__name__}"


@pytest.fixture
def postgres_url():
    """A database of its own for this test, dropped afterwards."""
    reason = _pg_reachable()
    if reason:
        pytest.skip(reason)
    import psycopg

    name = f"triage_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path) -> str:
    """Run the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return _sqlite_url(tmp_path)
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def make_client(tmp_path) -> Callable[..., Api]:
    with ExitStack() as stack:

        def build(classifier: Any, database_url: str | None = None, **overrides: Any) -> Api:
            # The background explainer would add model calls and reads to tests that count them:
            # off unless a test turns it on (tests/serving/test_explain.py).
            overrides.setdefault("explain_poll_seconds", 0)
            settings = Settings(database_url=database_url or _sqlite_url(tmp_path), **overrides)
            app = create_app(settings, classifier_override=classifier)
            # A loopback client address, as a local scraper has (/metrics needs no key from there).
            client = stack.enter_context(TestClient(app, raise_server_exceptions=False, client=("127.0.0.1", 50000)))
            keys = {}
            with app.state.services.sessions.begin() as session:
                for role in ROLES:
                    keys[role] = create_key(session, role, name=f"test-{role}")[1]
            return Api(client, app, keys, settings)

        yield build


@pytest.fixture
def api(make_client, fake_classifier) -> Api:
    """An app on the fake classifier and a fresh SQLite database."""
    return make_client(fake_classifier)


@pytest.fixture
def tiny_api(make_client, tiny_classifier) -> Api:
    """An app on the real tiny bundle and a fresh SQLite database."""
    return make_client(tiny_classifier)


@pytest.fixture
def own_postgres():
    """A PostgreSQL server started for this test alone (tests/serving/pg_own.py), stopped after."""
    from pg_own import OwnPostgres, find_bin

    if find_bin() is None:
        pytest.skip("PostgreSQL server binaries (initdb, postgres) not installed; set PG_BIN")
    server = OwnPostgres()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001
        server.stop()
        pytest.skip(f"cannot start a PostgreSQL server of our own: {type(exc).__name__}: {exc}")
    try:
        yield server
    finally:
        server.stop()
