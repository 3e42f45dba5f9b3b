"""Review decisions (POST /v1/review/{id}) and their export as training rows, on SQLite and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import select

from classifier.cli import main
from serving.db.tables import Classification
from training.data.schema import read_labelled


def queued(api, items):
    api.classify(items)
    return {i["item_id"]: i for i in api.client.get("/v1/review", headers=api.headers("supervisor")).json()["items"]}


def assert_error(r, status, code):
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code


def test_a_correction_is_stored_with_its_reviewer_and_leaves_the_queue(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    q = queued(api, [{"id": "a", "text": "年费 不确定"}, {"id": "b", "text": "转账失败 不确定"}])
    h = api.headers("supervisor")
    r = api.client.post(f"/v1/review/{q['a']['id']}", headers=h,
                        json={"category": "contract_legal", "urgency": "high", "note": "涉及合同条款"})
    assert r.status_code == 200, r.text
    outcome = r.json()
    assert {k: outcome[k] for k in ("id", "reviewed", "corrected", "labels")} == {
        "id": q["a"]["id"], "reviewed": True, "corrected": ["category", "urgency"], "labels": {
            "category": "contract_legal", "category_secondary": None, "sentiment": "neutral", "urgency": "high"}}
    # The decision takes effect: priority and route re-run on the decided labels (high urgency: urgent).
    assert outcome["priority"]["urgent"] is True and q["a"]["priority"]["urgent"] is False
    assert api.client.get("/v1/review", headers=h).json()["total"] == 1
    with api.services.sessions() as session:
        row = session.scalars(select(Classification).where(Classification.item_id == "a")).one()
    assert row.reviewed_labels["category"] == "contract_legal" and row.category == "contract_legal"
    assert row.predictions["category"]["label"] == "fees"  # the prediction is kept
    assert row.review_note == "涉及合同条款" and row.reviewed_by is not None and row.reviewed_at is not None
    metrics = api.client.get("/metrics").text
    assert 'triage_review_corrections_total{field="category"} 1.0' in metrics
    assert "triage_reviews_total 1.0" in metrics
    assert_error(api.client.post(f"/v1/review/{q['a']['id']}", headers=h, json={}), 404, "E517")


def test_secondary_category_rules(api):
    q = queued(api, [{"id": "s", "text": "年费未经同意就扣 不确定"}])  # fees, secondary contract_legal
    assert q["s"]["predictions"]["category_secondary"] == "contract_legal"
    h = api.headers("supervisor")
    assert_error(api.client.post(f"/v1/review/{q['s']['id']}", headers=h, json={"category_secondary": "fees"}), 422, "E519")
    # The runner-up becomes the primary: the secondary is cleared rather than equal to it.
    r = api.client.post(f"/v1/review/{q['s']['id']}", headers=h, json={"category": "contract_legal"})
    assert r.json()["labels"]["category_secondary"] is None
    assert r.json()["corrected"] == ["category", "category_secondary"]


def test_bad_decisions_get_specific_codes(api):
    q = queued(api, [{"id": "x", "text": "转账失败 不确定"}])
    url, h = f"/v1/review/{q['x']['id']}", api.headers("supervisor")
    assert_error(api.client.post(url, headers=h, json={"category": "fee"}), 422, "E519")
    assert_error(api.client.post(url, headers=h, json={"urgency": "urgent"}), 422, "E519")
    assert_error(api.client.post(url, headers=h, json={"label": "fees"}), 422, "E513")
    assert_error(api.client.post(url, headers=h, json={"note": "x" * 2001}), 422, "E513")
    assert_error(api.client.post(url, headers={**h, "Content-Type": "application/json"}, content=b"{oops"), 400, "E510")
    assert_error(api.client.post(url, headers=api.headers("ingest"), json={}), 403, "E502")
    assert_error(api.client.post("/v1/review/999999", headers=h, json={}), 404, "E517")
    assert api.client.get("/v1/review", headers=h).json()["total"] == 1  # nothing was recorded


def test_export_writes_reviewed_items_as_valid_training_rows(make_client, fake_classifier, db_url, monkeypatch, tmp_path,
                                                             capsys):
    api = make_client(fake_classifier, database_url=db_url)
    q = queued(api, [{"id": "a", "text": "年费 不确定 手机13812345678"}, {"id": "b", "text": "转账失败 不确定"},
                     {"id": "c", "text": "哈哈 不确定"}])
    h = api.headers("supervisor")
    api.client.post(f"/v1/review/{q['a']['id']}", headers=h, json={"sentiment": "negative"})
    api.client.post(f"/v1/review/{q['b']['id']}", headers=h)  # confirmed as predicted
    monkeypatch.setenv("DATABASE_URL", db_url)
    out = tmp_path / "reviewed.jsonl"
    assert main(["review", "export", "--out", str(out)]) == 0
    assert "wrote 2 reviewed items (1 with a corrected label)" in capsys.readouterr().err
    rows = read_labelled(out)  # the training reader accepts it as is
    assert [r["id"] for r in rows] == [f"review-{q['a']['id']}", f"review-{q['b']['id']}"]
    assert rows[0]["sentiment"] == "negative" and rows[0]["category"] == "fees"
    assert "13812345678" not in rows[0]["text"] and "138****5678" in rows[0]["text"]  # stored masked
    assert rows[1]["source"] == f"review:{fake_classifier.model_version}"

    assert main(["review", "export", "--out", str(tmp_path / "later.csv"), "--since", "2999-01-01"]) == 0
    assert (tmp_path / "later.csv").read_text(encoding="utf-8-sig").strip() == \
        '"id","text","category","category_secondary","sentiment","urgency","source","item_id","request_id","metadata","model_version","revision","reviewed_at"'  # CSV cells are all quoted
    assert main(["review", "export", "--out", str(tmp_path / "x.csv"), "--since", "yesterday"]) == 1
    assert main(["review", "export", "--out", str(tmp_path / "x.txt")]) == 1


def test_queue_and_outcome_match_their_published_schemas(api):
    from serving.review.schemas import Queue as ReviewQueue
    from serving.review.schemas import ReviewOutcome

    q = api.client.get("/v1/review", headers=api.headers("supervisor"))
    assert ReviewQueue.model_validate(q.json()).total == 0
    queued(api, [{"id": "a", "text": "年费 不确定", "metadata": {"channel": "app"}}])
    page = ReviewQueue.model_validate(api.client.get("/v1/review", headers=api.headers("supervisor")).json())
    assert page.total == 1 and page.items[0].priority.respond_by.tzinfo is not None
    r = api.client.post(f"/v1/review/{page.items[0].id}", headers=api.headers("admin"), json={"sentiment": "negative"})
    assert ReviewOutcome.model_validate(r.json()).corrected == ["sentiment"]


def test_of_two_reviewers_closing_one_item_at_once_exactly_one_wins(make_client, fake_classifier, db_url):
    import threading
    from collections import Counter

    api = make_client(fake_classifier, database_url=db_url, rate_limit_per_minute=0)
    q = queued(api, [{"id": str(i), "text": "年费 不确定"} for i in range(8)])
    statuses: Counter = Counter()
    winners: dict = {}

    def close(item: int, urgency: str) -> None:
        r = api.client.post(f"/v1/review/{item}", headers=api.headers("supervisor"), json={"urgency": urgency})
        statuses[r.status_code] += 1
        if r.status_code == 200:
            winners.setdefault(item, []).append(urgency)

    for item in (i["id"] for i in q.values()):
        threads = [threading.Thread(target=close, args=(item, u)) for u in ("high", "medium", "low")]
        [t.start() for t in threads]
        [t.join() for t in threads]
    assert statuses == {200: 8, 404: 16}
    with api.services.sessions() as session:
        stored = {r.id: r.reviewed_labels["urgency"] for r in session.scalars(select(Classification))}
    assert all(stored[item] == urgencies[0] for item, urgencies in winners.items())  # the winner's labels


def test_the_api_exports_the_same_training_rows_as_the_cli(make_client, fake_classifier, db_url, monkeypatch, tmp_path):
    api = make_client(fake_classifier, database_url=db_url)
    q = queued(api, [{"id": "a", "text": "年费 不确定"}, {"id": "b", "text": "转账失败 不确定"}])
    h = api.headers("supervisor")
    api.client.post(f"/v1/review/{q['a']['id']}", headers=h, json={"urgency": "high"})
    r = api.client.get("/v1/review/export", headers=h)
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/x-ndjson")
    (tmp_path / "api.jsonl").write_bytes(r.content)
    monkeypatch.setenv("DATABASE_URL", db_url)
    assert main(["review", "export", "--out", str(tmp_path / "cli.jsonl")]) == 0
    assert (tmp_path / "api.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()
    (row,) = read_labelled(tmp_path / "api.jsonl")
    assert row["urgency"] == "high" and row["id"] == f"review-{q['a']['id']}"

    assert api.client.get("/v1/review/export", headers=h, params={"since": "2999-01-01T00:00"}).content == b""
    assert_error(api.client.get("/v1/review/export", headers=h, params={"since": "1700000000"}), 422, "E513")
    assert_error(api.client.get("/v1/review/export", headers=api.headers("ingest")), 403, "E502")
