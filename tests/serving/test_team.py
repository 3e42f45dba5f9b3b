"""Team features of the review workspace: search by text and caller id, bulk confirm, reviewer
figures (API and /metrics), export paging with a cursor. On SQLite and PostgreSQL.

The fake classifier (tests/serving/fakes.py): 不确定 queues an item; 年费 → fees, 催收 →
contract_legal, negative, high (P1).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from serving.db.tables import Classification, ItemRevision, WebhookEvent
from serving.review.schemas import BulkOutcome, Figures


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    return r.json()["error"]


def stored(api) -> dict[str, Classification]:
    with api.services.sessions() as session:
        return {r.item_id: r for r in session.scalars(select(Classification))}


def now_local(minutes: int = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(minutes=minutes)).isoformat()


def queue(api, **params) -> list[str]:
    r = api.client.get("/v1/review", headers=api.headers("supervisor"), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return [i["item_id"] for i in r.json()["items"]]


def test_search_by_text_and_by_caller_id(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": "TK-1", "text": "年费 不确定 扣了100%的钱"}, {"id": "TK-2", "text": "年费 不确定 ABC_x"},
                  {"id": "TK-3", "text": "转账 不确定 abc"}, {"id": "TK-4", "text": "年费扣了 很确定"}])
    assert sorted(queue(api, q="年费")) == ["TK-1", "TK-2"]  # pending only, as the other filters
    assert sorted(queue(api, q="年费", status="all")) == ["TK-1", "TK-2", "TK-4"]
    assert queue(api, q="100%") == ["TK-1"] and queue(api, q="%") == ["TK-1"]  # literal, not a wildcard
    assert queue(api, q="C_x") == ["TK-2"] and queue(api, q="_") == ["TK-2"]
    assert sorted(queue(api, q="abc")) == ["TK-2", "TK-3"]  # any case
    assert queue(api, item_id="TK-3") == ["TK-3"] and queue(api, item_id="TK") == []  # exact
    assert queue(api, item_id="TK-4") == [] and queue(api, item_id="TK-4", status="all") == ["TK-4"]
    h = api.headers("supervisor")
    assert_error(api.client.get("/v1/review", headers=h, params={"q": "x" * 101}), 422, "E513")
    assert_error(api.client.get("/v1/review", headers=h, params={"q": ""}), 422, "E513")
    # A cursor belongs to its search.
    page = api.client.get("/v1/review", headers=h, params={"q": "不确定", "limit": 1}).json()
    assert page["total"] == 3 and page["next_cursor"]
    assert_error(api.client.get("/v1/review", headers=h, params={"q": "年费", "cursor": page["next_cursor"]}),
                 422, "E544")
    rest = api.client.get("/v1/review", headers=h, params={"q": "不确定", "cursor": page["next_cursor"]}).json()
    assert len(rest["items"]) == 2


def test_bulk_confirm_is_one_decision_per_item_and_reports_failures_per_item(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": f"B{i}", "text": f"年费 不确定 {i}"} for i in range(4)]
                 + [{"id": "SINGLE", "text": "年费 不确定 单"}])
    rows = stored(api)
    h, a = api.headers("supervisor"), api.headers("admin")
    # B2 changed meanwhile (someone else decided it); B3 is open with another supervisor.
    assert api.client.post(f"/v1/items/{rows['B2'].id}/review", headers=a, json={"revision": 0}).status_code == 200
    assert api.client.post(f"/v1/items/{rows['B3'].id}/claim", headers=a).status_code == 200
    body = {"items": [{"id": rows[f"B{i}"].id, "revision": 0} for i in range(4)] + [{"id": 999999, "revision": 0}],
            "note": "批量确认 13812345678"}
    r = api.client.post("/v1/review/confirm", headers=h, json=body)
    assert r.status_code == 200, r.text
    out = BulkOutcome.model_validate(r.json())
    assert (out.confirmed, out.failed) == (2, 3)
    assert [(x.id, x.ok, x.error.code if x.error else None) for x in out.results] == [
        (rows["B0"].id, True, None), (rows["B1"].id, True, None), (rows["B2"].id, False, "E542"),
        (rows["B3"].id, False, "E543"), (999999, False, "E540")]
    # The same effects as one by one: compare with a single confirmation of an identical item.
    single = api.client.post(f"/v1/items/{rows['SINGLE'].id}/review", headers=h, json={"revision": 0}).json()
    for x in out.results[:2]:
        item = x.item.model_dump()
        assert item["status"] == "reviewed" and item["revision"] == 1 and item["changed"] == []
        assert (item["priority"]["level"], item["route"]) == (single["priority"]["level"], single["route"])
        assert item["review"]["note"] == "批量确认 138****5678"  # masked as any note
    with api.services.sessions() as session:
        for i in range(2):
            history = list(session.scalars(select(ItemRevision).where(ItemRevision.classification_id == rows[f"B{i}"].id)
                                           .order_by(ItemRevision.revision)))
            assert [(v.revision, v.kind) for v in history] == [(0, "prediction"), (1, "review")]  # one entry each
        # ... and one item.decided webhook event each (the outbox row is written with the decision)
        decided = [json.loads(e.body)["data"]["item"]["id"] for e in
                   session.scalars(select(WebhookEvent).where(WebhookEvent.type == "item.decided"))]
    assert sorted(decided) == sorted([rows["B0"].id, rows["B1"].id, rows["B2"].id, rows["SINGLE"].id])
    assert queue(api) == []  # B3 stays with its claimer, unconfirmed
    assert stored(api)["B3"].reviewed_at is None
    assert_error(api.client.post("/v1/review/confirm", headers=h, json={"items": [{"id": 1, "revision": 0}] * 2}),
                 422, "E513")
    assert_error(api.client.post("/v1/review/confirm", headers=h,
                                 json={"items": [{"id": i, "revision": 0} for i in range(1, 102)]}), 413, "E212")
    assert_error(api.client.post("/v1/review/confirm", headers=h, json={"items": [{"id": 1}]}), 422, "E513")
    assert_error(api.client.post("/v1/review/confirm", headers=api.headers("ingest"), json=body), 403, "E502")
    metrics = api.client.get("/metrics").text
    assert "triage_reviews_total 4.0" in metrics  # B2 by admin, B0, B1, SINGLE


def test_reviewer_figures_in_the_api_and_in_metrics(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": "F1", "text": "年费 不确定 1", "received_at": now_local(-30)},
                  {"id": "F2", "text": "年费 不确定 2", "received_at": now_local(-90)},
                  {"id": "F3", "text": "催收 不确定 3", "received_at": now_local(-60 * 24 * 5)},  # long overdue
                  {"id": "F4", "text": "年费 不确定 4", "received_at": now_local(-10)}])
    rows = stored(api)
    h, a = api.headers("supervisor"), api.headers("admin")
    decide = [(h, "F1", {}), (h, "F2", {"category": "contract_legal"}), (h, "F3", {}), (a, "F4", {"urgency": "high"})]
    for headers, item, labels in decide:
        r = api.client.post(f"/v1/items/{rows[item].id}/review", headers=headers, json={"revision": 0, **labels})
        assert r.status_code == 200, r.text
    # A revision of F1 by the admin: a decision, but not a first one.
    assert api.client.post(f"/v1/items/{rows['F1'].id}/review", headers=a, json={"revision": 1}).status_code == 200
    r = api.client.get("/v1/review/figures", headers=h)
    assert r.status_code == 200, r.text
    body = Figures.model_validate(r.json()).model_dump(by_alias=True)
    team, (first, second) = body["team"], body["reviewers"]
    assert team["decisions"] == 5 and team["time_to_decision"]["first_decisions"] == 4
    assert first["reviewer"]["name"] == "test-supervisor" and first["decisions"] == 3
    assert first["active_hours"] in (1, 2) and first["decisions_per_active_hour"] == round(3 / first["active_hours"], 2)
    cat = first["overturn"]["category"]
    assert (cat["decisions"], cat["overturned"]) == (3, 1)
    assert cat["by_label"]["fees"] == {"decisions": 2, "overturned": 1, "rate": 0.5}
    assert cat["by_label"]["contract_legal"]["rate"] == 0.0
    t = first["time_to_decision"]
    assert t["first_decisions"] == 3 and abs(t["within_deadline_rate"] - 2 / 3) < 1e-3  # F3 was late
    assert 25 <= t["minutes_p50"] <= 100 and t["minutes_p90"] > 60 * 24 * 4
    assert second["reviewer"]["name"] == "test-admin" and second["overturn"]["urgency"]["by_label"]["low"]["rate"] == 0.5
    # An empty window and a bad one.
    past = api.client.get("/v1/review/figures", headers=h, params={"to": "2026-01-01T00:00:00"}).json()
    assert past["team"]["decisions"] == 0 and past["reviewers"] == []
    assert_error(api.client.get("/v1/review/figures", headers=h,
                                params={"from": "2026-01-01T00:00:00", "to": "2026-12-01T00:00:00"}), 422, "E513")
    assert_error(api.client.get("/v1/review/figures", headers=h, params={"bogus": "1"}), 422, "E513")
    metrics = api.client.get("/metrics").text
    assert 'triage_reviewer_decisions{key="",reviewer="team"} 5.0' in metrics
    line = next(x for x in metrics.splitlines()
                if x.startswith("triage_reviewer_overturn_ratio{") and 'reviewer="test-supervisor"' in x
                and 'head="category"' in x and 'label="fees"' in x)
    assert line.endswith(" 0.5")
    assert any(x.startswith("triage_reviewer_within_deadline_ratio{") and 'reviewer="test-supervisor"' in x
               for x in metrics.splitlines())


def test_export_pages_with_a_cursor_in_a_stable_order(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify([{"id": f"E{i}", "text": f"年费 不确定 {i}"} for i in range(5)])
    rows, h = stored(api), api.headers("supervisor")
    for i in range(5):
        assert api.client.post(f"/v1/items/{rows[f'E{i}'].id}/review", headers=h, json={"revision": 0}).status_code == 200
    everything = api.client.get("/v1/review/export", headers=h)
    assert everything.status_code == 200 and "link" not in everything.headers  # no limit: all, as before
    order = [json.loads(line)["item_id"] for line in everything.text.splitlines()]
    assert order == [f"E{i}" for i in range(5)]

    seen, url, pages = [], "/v1/review/export?limit=2", 0
    while url:
        r = api.client.get(url, headers=h)
        assert r.status_code == 200, r.text
        seen += [json.loads(line)["item_id"] for line in r.text.splitlines()]
        pages += 1
        link = r.headers.get("link")
        url = link[1:link.index(">")] if link else None
        assert link is None or link.endswith('; rel="next"')
        cursor = r.headers["x-next-cursor"]
    assert seen == order and pages == 3
    # Polling from the last cursor: nothing new, then only the decision made since (a revised item again).
    r = api.client.get("/v1/review/export", headers=h, params={"cursor": cursor, "limit": 10})
    assert r.text == "" and r.headers["x-next-cursor"] == cursor and "link" not in r.headers
    assert api.client.post(f"/v1/items/{rows['E1'].id}/review", headers=h,
                           json={"revision": 1, "urgency": "high"}).status_code == 200
    r = api.client.get("/v1/review/export", headers=h, params={"cursor": cursor, "limit": 10})
    (row,) = [json.loads(line) for line in r.text.splitlines()]
    assert (row["item_id"], row["urgency"], row["revision"]) == ("E1", "high", 2)
    assert_error(api.client.get("/v1/review/export", headers=h, params={"cursor": "nonsense"}), 422, "E544")
    queue_cursor = api.client.get("/v1/review", headers=h, params={"status": "all", "limit": 1}).json()["next_cursor"]
    assert_error(api.client.get("/v1/review/export", headers=h, params={"cursor": queue_cursor}), 422, "E544")
    assert_error(api.client.get("/v1/review/export", headers=h, params={"limit": 0}), 422, "E513")
