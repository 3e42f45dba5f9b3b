"""Claims: take-over with a note (kept with the item's history), released when the holder's key is
revoked, and status=all lists every stored item whoever holds it. SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import func, select

from serving.db.tables import Classification
from serving.review.schemas import History, ItemWithHistory

TEXTS = [{"id": f"c{i}", "text": "年费 不确定"} for i in range(3)] + [{"id": "n", "text": "转账"}]


def _api(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    r = api.classify(TEXTS)
    assert r.status_code == 200, r.text
    return api, [x["stored_id"] for x in r.json()["results"]]


def _pending(api, role) -> list[int]:
    r = api.client.get("/v1/review", headers=api.headers(role), params={"limit": 100})
    assert r.status_code == 200, r.text
    return [i["id"] for i in r.json()["items"]]


def _code(r, status):
    assert r.status_code == status, r.text
    return r.json()["error"]["code"]


def test_a_supervisor_takes_over_a_claim_with_a_note(make_client, fake_classifier, db_url):
    api, (item, *_rest) = _api(make_client, fake_classifier, db_url)
    a, b = api.headers("supervisor"), api.headers("admin")
    assert api.client.post(f"/v1/items/{item}/claim", headers=a).status_code == 200
    assert _code(api.client.post(f"/v1/items/{item}/claim", headers=b), 409) == "E543"
    for body in ({"take_over": True}, {"take_over": True, "note": "  "}):  # a take-over says why
        assert _code(api.client.post(f"/v1/items/{item}/claim", headers=b, json=body), 422) == "E513"
    r = api.client.post(f"/v1/items/{item}/claim", headers=b,
                        json={"take_over": True, "note": "客户第三次来电 13812345678，我来处理"})
    assert r.status_code == 200, r.text
    taken = ItemWithHistory.model_validate(r.json())
    assert taken.claim.reviewer.name == "test-admin"
    (t,) = taken.takeovers
    assert t.reviewer.name == "test-admin" and t.taken_from.name == "test-supervisor"
    assert "13812345678" not in t.note and "我来处理" in t.note  # masked like a decision's note
    history = History.model_validate(api.client.get(f"/v1/items/{item}/history", headers=a).json())
    assert [x.taken_from.name for x in history.takeovers] == ["test-supervisor"]
    # the previous holder learns it: their decision and renewal are refused, their queue skips it
    assert _code(api.client.post(f"/v1/items/{item}/review", headers=a, json={"revision": 0}), 409) == "E543"
    assert _code(api.client.post(f"/v1/items/{item}/claim", headers=a), 409) == "E543"
    assert item not in _pending(api, "supervisor") and item in _pending(api, "admin")
    assert api.client.post(f"/v1/items/{item}/review", headers=b, json={"revision": 0}).status_code == 200
    # a take-over of a free item is just a claim (nothing to record)
    other = _pending(api, "admin")[0]
    r = api.client.post(f"/v1/items/{other}/claim", headers=b, json={"take_over": True, "note": "接手"})
    assert r.status_code == 200 and r.json()["takeovers"] == []


def test_revoking_a_key_releases_its_claims(make_client, fake_classifier, db_url, monkeypatch, capsys):
    from classifier.cli import main
    from serving.security.auth import create_key

    api, items = _api(make_client, fake_classifier, db_url)
    with api.services.sessions.begin() as s:
        row, key = create_key(s, "supervisor", name="离职主管")
        leaving = row.id
    h = {"Authorization": f"Bearer {key}"}
    for item in items[:2]:
        assert api.client.post(f"/v1/items/{item}/claim", headers=h).status_code == 200
    assert _pending(api, "supervisor") == [items[2]]
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["keys", "revoke", str(leaving)]) == 0
    assert "2 review item(s) it had open are back in the queue" in capsys.readouterr().err
    assert sorted(_pending(api, "supervisor")) == sorted(items[:3])
    assert all(api.client.get(f"/v1/items/{i}", headers=api.headers("supervisor")).json()["claim"] is None
               for i in items[:2])


def test_status_all_lists_every_stored_item(make_client, fake_classifier, db_url):
    api, items = _api(make_client, fake_classifier, db_url)
    a, b = api.headers("supervisor"), api.headers("admin")
    api.client.post(f"/v1/items/{items[0]}/claim", headers=b)  # held by another supervisor
    api.client.post(f"/v1/items/{items[1]}/review", headers=a, json={"revision": 0})  # decided
    with api.services.sessions() as s:
        stored = s.scalar(select(func.count()).select_from(Classification))
    r = api.client.get("/v1/review", headers=a, params={"status": "all", "limit": 100}).json()
    assert r["total"] == stored == len(r["items"]) == len(TEXTS)
    held = next(i for i in r["items"] if i["id"] == items[0])
    assert held["claim"]["reviewer"]["name"] == "test-admin"
    assert items[0] not in _pending(api, "supervisor")  # the work queue still skips it
