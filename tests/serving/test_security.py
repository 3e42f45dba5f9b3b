"""Issue 13, item 8: security headers and no-store, /metrics protection without filesystem paths,
SQLite durability and file permissions."""
from __future__ import annotations

import hashlib
import os
import re
import stat

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from serving.db import engine as db
from serving.ops.prometheus import allowed_address


@pytest.mark.parametrize("path", ["/review", "/matrix", "/insights", "/guideline"])
def test_html_pages_carry_a_content_security_policy(api, path):
    r = api.client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "default-src 'self'" in csp
    # scripts and styles are files under /static (serving/http/templates.py): nothing inline is allowed
    assert "'unsafe-inline'" not in csp and "script-src 'self';" in csp and "style-src 'self';" in csp
    assert " style=" not in r.text and "<style" not in r.text
    assert all(tag.startswith(("<script src=", '<script type="application/json"'))
               for tag in re.findall(r"<script[^>]*>", r.text))


def test_the_pages_static_files_are_package_data_cached_by_their_hash(api):
    page = api.client.get("/review").text
    links = re.findall(r'(?:src|href)="(/static/[^"]+)"', page)
    assert {link.split("?")[0] for link in links} == {"/static/review.css", "/static/page.js", "/static/review.js"}
    for link in links:
        r = api.client.get(link)
        assert r.status_code == 200 and re.fullmatch(r"/static/[a-z_]+\.(js|css)\?v=[0-9a-f]{12}", link)
        assert r.headers["content-type"].split(";")[0] in ("text/javascript", "text/css")
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"  # a new release changes v
        assert hashlib.sha256(r.content).hexdigest().startswith(link.rsplit("=", 1)[1])
    plain = api.client.get("/static/page.js")
    assert plain.headers["cache-control"] == "no-cache"  # without v: revalidate
    again = api.client.get("/static/page.js", headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.headers["cache-control"] == "no-cache"
    assert api.client.get("/static/nothing.js").status_code == 404
    assert api.client.get("/static/../app.py").status_code == 404
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"


def test_responses_with_customer_text_are_not_stored_by_caches(api):
    r = api.classify([{"id": "1", "text": "不确定 年费扣了"}])
    assert r.headers["cache-control"] == "no-store"
    for path in ("/v1/review", "/v1/matrix", "/v1/matrix.html", "/v1/review/export"):
        r = api.client.get(path, headers=api.headers("supervisor"))
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", path
        assert r.headers["x-content-type-options"] == "nosniff"
    html = api.client.get("/v1/matrix.html", headers=api.headers("supervisor"))
    assert "script-src" in html.headers["content-security-policy"]
    # Errors too (they come from the middleware's own path).
    assert api.client.post("/v1/classify", content=b"x" * 10).headers["cache-control"] == "no-store"


def test_metrics_need_a_key_from_other_addresses(api):
    remote = TestClient(api.app, client=("203.0.113.7", 40000))  # same app, a non-loopback caller
    r = remote.get("/metrics")
    assert r.status_code == 401 and r.json()["error"]["code"] == "E501"
    assert remote.get("/metrics", headers=api.headers("ingest")).status_code == 200
    assert api.client.get("/metrics").status_code == 200  # loopback: a local scraper


def test_metrics_allow_list_takes_networks(make_client, fake_classifier):
    api = make_client(fake_classifier, metrics_allow_from="10.0.0.0/8, 192.168.1.5")
    assert TestClient(api.app, client=("10.2.3.4", 1)).get("/metrics").status_code == 200
    assert TestClient(api.app, client=("192.168.1.5", 1)).get("/metrics").status_code == 200
    assert TestClient(api.app, client=("192.168.1.6", 1)).get("/metrics").status_code == 401
    assert api.client.get("/metrics").status_code == 401  # loopback is not in this list
    assert allowed_address("::1", "loopback") and not allowed_address("testclient", "loopback")


def test_metrics_show_no_filesystem_path(api):
    body = api.client.get("/metrics").text
    info = [line for line in body.splitlines() if line.startswith("triage_model_info")]
    assert info and 'bundle="default"' in info[0]
    assert os.getcwd() not in body and "/models/" not in body


def test_sqlite_store_is_durable_and_private(tmp_path):
    path = tmp_path / "sub" / "triage.db"
    engine = db.make_engine(f"sqlite:///{path}")
    try:
        db.migrate(engine)
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        for f in path.parent.iterdir():  # the database and its -wal / -shm files
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f.name
    finally:
        engine.dispose()


def test_existing_sqlite_file_is_tightened(tmp_path):
    path = tmp_path / "old.db"
    path.touch(mode=0o644)
    os.chmod(path, 0o644)
    db.make_engine(f"sqlite:///{path}").dispose()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_sql_parameters_never_reach_the_log(db_url, caplog):
    import asyncio
    import logging

    from sqlalchemy.exc import SQLAlchemyError

    from serving.http.handlers import database_error

    engine = db.make_engine(db_url)
    try:
        db.migrate(engine)
        with pytest.raises(SQLAlchemyError) as err:
            with engine.begin() as conn:  # NOT NULL violated, with a phone number among the values
                conn.execute(text("INSERT INTO api_keys (key_hash, prefix, role, created_at) VALUES (:a, :b, :c, NULL)"),
                             {"a": "13812345678", "b": "x", "c": "ingest"})
        assert "SQL parameters hidden" in str(err.value)
        # PostgreSQL's own DETAIL may still quote the row: the service logs the error's type only.
        with caplog.at_level(logging.DEBUG):
            response = asyncio.run(database_error(None, err.value))
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert caplog.records and all("13812345678" not in r.getMessage() and not r.exc_info for r in caplog.records)
    finally:
        engine.dispose()


def test_hsts_only_when_set(api, make_client, fake_classifier):
    """TRIAGE_HSTS_SECONDS (0 by default: a service behind a TLS proxy that sets it, or plain HTTP,
    must not pin browsers to HTTPS): when set, on every response, errors and static files included."""
    assert "strict-transport-security" not in api.client.get("/healthz").headers
    pinned = make_client(fake_classifier, hsts_seconds=31536000)
    for response in (pinned.client.get("/healthz"), pinned.client.get("/review"), pinned.client.get("/static/page.js"),
                     pinned.client.get("/v1/review"), pinned.client.post("/v1/classify", content=b"x" * 10),
                     pinned.classify([{"id": "1", "text": "年费"}])):
        assert response.headers["strict-transport-security"] == "max-age=31536000", response.request.url
