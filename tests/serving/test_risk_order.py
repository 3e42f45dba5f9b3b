"""The queue's risk order: an item the review policy queued because a high-stakes label may hold
sorts at the level the matrix gives it with that label (PriorityMatrix.sort_level), and says so.

Fake classifier words (tests/serving/fakes.py): 疑似紧急 → review reason possible_high_urgency,
疑似法律 → possible_contract_legal, a word "rule:NAME" → that rule reason; 年费 → fees, 投诉 →
negative, 催收 → contract_legal/negative/high (P1), 不确定 → queued as category_uncertain, 很疑似紧急 →
watched for high urgency with P(high) 0.45 (other items: 0.9 when predicted high, else 0.05).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from classifier.priority import PriorityMatrix
from classifier.rules import load_yaml
from serving.db import sorting
from serving.review.schemas import Queue
from serving.db.tables import Classification

T0 = datetime(2026, 12, 1, 9, 0)  # a Tuesday, Asia/Shanghai


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat() + "+08:00"


def queue(api, **params) -> list[dict]:
    r = api.client.get("/v1/review", headers=api.headers("supervisor"), params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return Queue.model_validate(r.json()).model_dump(mode="json")["items"]


MIX = [
    {"id": "p1", "text": "催收 不确定", "received_at": at(60)},  # P1 by the model
    # the model: fees, negative, low → P2; watched for high urgency: P1 if that held
    {"id": "watched-high", "text": "年费 投诉 疑似紧急", "received_at": at(0)},
    {"id": "p2", "text": "年费 投诉 不确定", "received_at": at(-600)},  # P2, older: deadline before the watched one
    {"id": "p4", "text": "转账 不确定", "received_at": at(-900)},  # P4, oldest
    # product_service, negative, low → P4; if contract_legal held: important → P2
    {"id": "watched-legal", "text": "转账 投诉 疑似法律", "received_at": at(5)},
    # P4; rule money_gone implies contract_legal + high (classifier/signals.py): P1
    {"id": "rule-known", "text": "转账 投诉 rule:money_gone", "received_at": at(10)},
    # P4; a rule not in the table implies watch.rule_default (urgency high): urgent → sorts with P1
    # (a guideline rule that makes an item urgent sorts it as urgent and important: PriorityMatrix.sort_level)
    {"id": "rule-new", "text": "转账 rule:brand_new", "received_at": at(15)},
]


def test_watched_items_sort_at_the_level_of_the_label_watched_for(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    assert api.classify(MIX).status_code == 200
    listed = queue(api)
    order = [i["item_id"] for i in listed]
    assert order == ["p1", "watched-high", "rule-known", "rule-new", "p2", "watched-legal", "p4"]
    by_id = {i["item_id"]: i for i in listed}
    # priority and deadlines stay those of the model's labels: only the order changes
    assert by_id["watched-high"]["priority"]["level"] == "P2" and by_id["rule-known"]["priority"]["level"] == "P4"
    assert by_id["watched-high"]["sort"] == {"level": "P1", "raised_by": ["possible_high_urgency"],
                                             "note": "疑似紧急：按P1排序"}
    assert by_id["watched-legal"]["sort"]["note"] == "疑似合同法律纠纷：按P2排序"
    assert by_id["rule-known"]["sort"] == {"level": "P1", "raised_by": ["rule:money_gone"],
                                           "note": "规则：资金不明减少：按P1排序"}
    assert by_id["rule-new"]["sort"]["level"] == "P1"
    assert by_id["p1"]["sort"] is None and by_id["p2"]["sort"] is None
    # keyset paging walks the same order across the raised levels
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = api.client.get("/v1/review", headers=api.headers("supervisor"), params=params).json()
        seen += [i["item_id"] for i in body["items"]]
        if not (cursor := body["next_cursor"]):
            break
    assert seen == order


def test_inside_a_sort_level_the_likelier_urgent_item_comes_first(make_client, fake_classifier, db_url):
    """A watch fitted to a tight budget can flag nearly every queued item: then the sort level does not
    separate them, and the model's P(high) does (serving/db/derived.urgency_risk_of). The deadline
    and the margin order items of equal risk, as before."""
    api = make_client(fake_classifier, database_url=db_url)
    items = [{"id": f"watched-{k}", "text": "年费 投诉 疑似紧急", "received_at": at(-1440 * k)} for k in range(4)]
    items += [{"id": "likelier", "text": "年费 投诉 很疑似紧急", "received_at": at(0)},  # newest: the latest deadline
              {"id": "p1", "text": "催收 不确定", "received_at": at(30)}]
    assert api.classify(items).status_code == 200
    listed = queue(api)
    order = [i["item_id"] for i in listed]
    assert order == ["p1", "likelier", "watched-3", "watched-2", "watched-1", "watched-0"]
    assert {i["sort"]["level"] for i in listed if i["item_id"] != "p1"} == {"P1"}
    # the likelier item is answered before items due earlier; among equal risks the deadline still decides
    by_id = {i["item_id"]: i for i in listed}
    assert by_id["likelier"]["priority"]["respond_by"] > by_id["watched-1"]["priority"]["respond_by"]
    seen, cursor = [], None
    while True:  # keyset paging carries the risk key
        body = api.client.get("/v1/review", headers=api.headers("supervisor"),
                              params={"limit": 1, **({"cursor": cursor} if cursor else {})}).json()
        seen += [i["item_id"] for i in body["items"]]
        if not (cursor := body["next_cursor"]):
            break
    assert seen == order
    with api.services.sessions() as session:
        risk = dict(session.execute(select(Classification.item_id, Classification.sort_risk)).all())
    assert risk == {"p1": 0.1, "likelier": 0.55, **{f"watched-{k}": 0.95 for k in range(4)}}


def test_a_decision_ends_the_raise_and_undo_to_the_prediction_brings_it_back(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify(MIX)
    sup = api.headers("supervisor")
    item = next(i for i in queue(api) if i["item_id"] == "watched-high")
    # a person says low urgency after all: the item sorts at its (decided) level, unmarked
    r = api.client.post(f"/v1/items/{item['id']}/review", headers=sup, json={"urgency": "low", "revision": 0})
    assert r.status_code == 200, r.text
    assert r.json()["sort"] is None
    assert [i["item_id"] for i in queue(api, status="reviewed")] == ["watched-high"]
    with api.services.sessions() as session:
        assert session.get(Classification, item["id"]).sort_level == "P2"
    r = api.client.post(f"/v1/items/{item['id']}/undo", headers=sup, json={"revision": 1})
    assert r.status_code == 200, r.text
    assert r.json()["sort"]["level"] == "P1" and r.json()["status"] == "pending"
    assert [i["item_id"] for i in queue(api)][:2] == ["p1", "watched-high"]


def test_a_changed_watch_table_applies_to_the_queue_at_the_next_start(make_client, fake_classifier, db_url, tmp_path):
    api = make_client(fake_classifier, database_url=db_url)
    api.classify(MIX)
    assert {i["item_id"]: i["sort"]["level"] for i in queue(api) if i["sort"]}["rule-new"] == "P1"
    # a desk that stops trusting unlisted rules: they no longer raise anything
    raw = load_yaml("configs/priority.yaml")
    raw["watch"]["rule_default"] = {"urgency": "low"}
    matrix = PriorityMatrix.from_dict(raw)
    assert sorting.resort_pending(api.services.sessions, matrix) == 1  # only that item changes
    assert sorting.resort_pending(api.services.sessions, matrix) == 0
    listed = queue(api)
    assert {i["item_id"]: i for i in listed}["rule-new"]["sort"] is None and listed[-1]["item_id"] == "rule-new"
    # ... and lists the new rule by what it implies
    raw["watch"]["rules"]["brand_new"] = {"category": "contract_legal", "sentiment": "negative", "urgency": "high"}
    assert sorting.resort_pending(api.services.sessions, PriorityMatrix.from_dict(raw)) == 1
    assert {i["item_id"]: i for i in queue(api)}["rule-new"]["sort"]["level"] == "P1"


def test_rows_migrated_from_0004_are_sorted_by_their_reasons_at_start(make_client, fake_classifier, db_url):
    from serving.db import engine as db

    engine = db.make_engine(db_url)
    db.migrate(engine, "0004")
    now = datetime(2026, 12, 1, 1, 0)
    scores = {h: {"label": lab, "confidence": 0.9, "scores": {lab: 0.9}} for h, lab in
              (("category", "fees"), ("sentiment", "negative"), ("urgency", "low"))}
    row = {"request_id": "r1", "item_id": "old-watched", "text_masked": "年费", "metadata": {},
           "predictions": {**scores, "review_reasons": ["possible_high_urgency"]}, "model_version": "v0",
           "category": "fees", "category_secondary": None, "sentiment": "negative", "urgency": "low", "urgent": False,
           "important": True, "quadrant": "important_not_urgent", "level": "P2", "respond_by": now, "resolve_by": now,
           "route": "billing", "needs_review": True, "received_at": now, "created_at": now,
           "review_reasons": ",possible_high_urgency,", "margin": 0.5}
    with engine.begin() as conn:  # only the columns release 0004 had
        conn.execute(Classification.__table__.insert(), [row])
    engine.dispose()
    api = make_client(fake_classifier, database_url=db_url)  # start-up migrates to head and re-sorts
    (item,) = queue(api)
    assert item["priority"]["level"] == "P2" and item["sort"]["level"] == "P1"
    with api.services.sessions() as session:
        assert session.scalars(select(Classification.sort_level)).one() == "P1"


def test_rows_migrated_from_0010_get_their_risk_from_the_stored_prediction(make_client, fake_classifier, db_url):
    from serving.db import engine as db

    engine = db.make_engine(db_url)
    db.migrate(engine, "0010_explanations")
    now = datetime(2026, 12, 1, 1, 0)
    base = {"request_id": "r1", "text_masked": "年费", "metadata": {}, "model_version": "v0", "category": "fees",
            "category_secondary": None, "sentiment": "negative", "urgency": "low", "urgent": False, "important": True,
            "quadrant": "important_not_urgent", "level": "P2", "sort_level": "P2", "respond_by": now, "resolve_by": now,
            "route": "billing", "needs_review": True, "received_at": now, "created_at": now, "margin": 0.5}
    rows = [{**base, "item_id": f"old-{p}", "predictions": {"urgency": {"label": "low", "scores": {"high": p, "low": 1 - p}}}}
            for p in (0.02, 0.3)] + [{**base, "item_id": "old-none", "predictions": {}}]
    with engine.begin() as conn:  # only the columns release 0010 had
        conn.execute(Classification.__table__.insert(), rows)
    engine.dispose()
    api = make_client(fake_classifier, database_url=db_url)  # start-up migrates to head
    with api.services.sessions() as session:
        risk = dict(session.execute(select(Classification.item_id, Classification.sort_risk)).all())
    assert risk == {"old-0.02": 0.98, "old-0.3": 0.7, "old-none": 1.0}
    assert [i["item_id"] for i in queue(api)] == ["old-0.3", "old-0.02", "old-none"]


def test_the_queue_filters_by_a_rule_reason(make_client, fake_classifier):
    api = make_client(fake_classifier)
    api.classify(MIX)
    assert [i["item_id"] for i in queue(api, reason="rule:money_gone")] == ["rule-known"]
    assert [i["item_id"] for i in queue(api, reason=["rule:brand_new", "possible_high_urgency"])] == [
        "watched-high", "rule-new"]
    r = api.client.get("/v1/review", headers=api.headers("supervisor"), params={"reason": "rule:"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "E513"


def test_an_other_text_from_a_vip_customer_is_not_p1_or_p2(make_client, fake_classifier):
    """configs/priority.yaml metadata_rules_skip_categories: [other] — metadata alone lifts no noise."""
    api = make_client(fake_classifier)
    meta = {"customer_tier": "vip", "amount": 80000, "channel": "regulator"}
    r = api.classify([{"id": "noise", "text": "哈哈 不确定", "metadata": meta},
                      {"id": "real", "text": "转账 不确定", "metadata": meta}])
    assert r.status_code == 200, r.text
    levels = {x["id"]: (x["category"]["label"], x["priority"]["level"]) for x in r.json()["results"]}
    assert levels == {"noise": ("other", "P4"), "real": ("product_service", "P2")}
    # a decision re-runs the same matrix: confirming keeps the noise low, correcting it lifts it
    item = {i["item_id"]: i for i in queue(api)}["noise"]
    sup = api.headers("supervisor")
    r = api.client.post(f"/v1/items/{item['id']}/review", headers=sup, json={"category": "fees", "revision": 0})
    assert r.json()["priority"]["level"] == "P2"
