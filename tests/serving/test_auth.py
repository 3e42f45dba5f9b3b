"""API keys, roles, 401/403 bodies and the per-key rate limit."""
from __future__ import annotations

from sqlalchemy import select

from serving.security.auth import hash_key
from serving.db.tables import ApiKey

ITEM = [{"id": "1", "text": "手机银行转账失败"}]


def assert_error(response, status: int, code: str):
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert "Traceback" not in response.text
    return body["error"]


def test_bearer_and_x_api_key_are_both_accepted(api):
    assert api.classify(ITEM).status_code == 200
    r = api.client.post("/v1/classify", json={"items": ITEM}, headers=api.headers("ingest", style="x-api-key"))
    assert r.status_code == 200


def test_missing_key_is_401_with_schema_and_challenge(api):
    r = api.client.post("/v1/classify", json={"items": ITEM})
    err = assert_error(r, 401, "E501")
    assert "Authorization: Bearer" in err["message"]
    assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_key_is_401(api):
    r = api.client.post("/v1/classify", json={"items": ITEM}, headers={"Authorization": "Bearer trk_nope"})
    assert_error(r, 401, "E501")
    r = api.client.post("/v1/classify", json={"items": ITEM}, headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert_error(r, 401, "E501")


def test_revoked_key_is_401(make_client, fake_classifier):
    api = make_client(fake_classifier, auth_cache_seconds=0)
    assert api.classify(ITEM).status_code == 200
    from serving.security.auth import utcnow

    with api.services.sessions.begin() as session:
        row = session.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(api.keys["ingest"]))).one()
        row.revoked_at = utcnow()
    assert_error(api.classify(ITEM), 401, "E501")


def test_roles(api):
    c = api.client
    # ingest: classify only
    assert api.classify(ITEM, role="ingest").status_code == 200
    err = assert_error(c.get("/v1/matrix", headers=api.headers("ingest")), 403, "E502")
    assert err["details"]["role"] == "ingest" and "supervisor" in err["details"]["allowed_roles"]
    assert_error(c.get("/v1/review", headers=api.headers("ingest")), 403, "E502")
    # supervisor: matrix and review, not classify
    assert_error(api.classify(ITEM, role="supervisor"), 403, "E502")
    assert c.get("/v1/matrix", headers=api.headers("supervisor")).status_code == 200
    assert c.get("/v1/review", headers=api.headers("supervisor")).status_code == 200
    # admin: everything
    assert api.classify(ITEM, role="admin").status_code == 200
    assert c.get("/v1/matrix", headers=api.headers("admin")).status_code == 200


def test_keys_are_stored_hashed(api):
    with api.services.sessions() as session:
        rows = session.scalars(select(ApiKey)).all()
    stored = {r.key_hash for r in rows} | {r.prefix for r in rows}
    for key in api.keys.values():
        assert key not in stored
        assert hash_key(key) in stored
        assert key[:12] in stored


def test_rate_limit_returns_429_with_retry_after(make_client, fake_classifier):
    api = make_client(fake_classifier, rate_limit_per_minute=6, rate_limit_burst=2)
    assert api.classify(ITEM).status_code == 200
    assert api.classify(ITEM).status_code == 200
    r = api.classify(ITEM)
    err = assert_error(r, 429, "E503")
    assert int(r.headers["retry-after"]) >= 1
    assert err["details"]["retry_after_seconds"] > 0
    # Another key has its own bucket.
    assert api.classify(ITEM, role="admin").status_code == 200


def test_health_and_metrics_need_no_key(api):
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/readyz").status_code == 200
    assert api.client.get("/metrics").status_code == 200


def test_metrics_can_require_a_key(make_client, fake_classifier):
    api = make_client(fake_classifier, metrics_require_auth=True)
    assert_error(api.client.get("/metrics"), 401, "E501")
    assert api.client.get("/metrics", headers=api.headers("ingest")).status_code == 200


def test_an_admin_lists_and_revokes_keys_over_http(make_client, fake_classifier, db_url):
    """A leaked ingest key, revoked by an admin without a shell: refused at once by this process (the
    auth cache is cleared), its open review claims released; an admin key cannot revoke itself."""
    api = make_client(fake_classifier, database_url=db_url, auth_cache_seconds=60)
    h = api.headers("admin")
    assert api.classify(ITEM).status_code == 200  # the ingest key is now in the auth cache
    listed = api.client.get("/v1/admin/keys", headers=h).json()["keys"]
    by_name = {k["name"]: k for k in listed}
    assert {"test-ingest", "test-supervisor", "test-admin"} <= set(by_name)
    assert all(k["revoked_at"] is None and "key_hash" not in k for k in listed)
    assert all(api.keys[k["role"]].startswith(k["prefix"]) for k in listed if k["name"] == f"test-{k['role']}")
    ingest = by_name["test-ingest"]
    assert_error(api.client.get("/v1/admin/keys", headers=api.headers("supervisor")), 403, "E502")

    r = api.client.post(f"/v1/admin/keys/{ingest['id']}/revoke", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["revoked_at"] and r.json()["claims_released"] == 0
    assert_error(api.classify(ITEM), 401, "E501")  # at once, though its cache entry had 60 s to live
    again = api.client.post(f"/v1/admin/keys/{ingest['id']}/revoke", headers=h).json()
    assert again["revoked_at"] == r.json()["revoked_at"]  # revoking twice changes nothing

    # a supervisor's key revoked while it holds an item: the item is back in the queue at once
    api.client.post("/v1/classify", json={"items": [{"id": "R", "text": "不确定"}]}, headers=h)
    (item,) = api.client.get("/v1/review", headers=h).json()["items"]
    assert api.client.post(f"/v1/items/{item['id']}/claim", headers=api.headers("supervisor")).status_code == 200
    gone = api.client.post(f"/v1/admin/keys/{by_name['test-supervisor']['id']}/revoke", headers=h).json()
    assert gone["claims_released"] == 1

    assert_error(api.client.post(f"/v1/admin/keys/{by_name['test-admin']['id']}/revoke", headers=h), 409, "E581")
    assert_error(api.client.post("/v1/admin/keys/99999/revoke", headers=h), 404, "E580")
    assert api.client.get("/v1/matrix", headers=h).status_code == 200  # the admin still works
