"""Contract of POST /v1/classify on the real tiny bundle: shape, order, types, headers."""
from __future__ import annotations

from datetime import datetime

import pytest

from classifier.labels import CATEGORY, LABELS, SENTIMENT, URGENCY
from classifier.priority import LEVELS, QUADRANTS

TEXTS = [
    "信用卡年费没有提前告知就扣了，要求退还",
    "手机银行转账一直失败，今天还款日怎么办",
    "催收天天打电话骚扰我家人，我要向银保监会投诉",
    "花呗怎么还款",
    "服务很好，谢谢客服小姐姐",
]


def items(texts=TEXTS):
    return [{"id": f"t{i}", "text": t} for i, t in enumerate(texts)]


def check_head(result: dict, head: str, labels: tuple[str, ...]):
    h = result[head]
    assert set(h) == {"label", "confidence", "scores"}
    assert h["label"] in labels
    assert set(h["scores"]) == set(labels)
    assert 0.0 <= h["confidence"] <= 1.0
    assert h["confidence"] == pytest.approx(max(h["scores"].values()))
    assert h["scores"][h["label"]] == pytest.approx(h["confidence"])
    assert sum(h["scores"].values()) == pytest.approx(1.0, abs=1e-4)


def test_response_shape(tiny_api, tiny_classifier):
    r = tiny_api.classify(items())
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert set(body) == {"model_version", "results"}
    assert body["model_version"] == tiny_classifier.model_version
    assert [res["id"] for res in body["results"]] == [f"t{i}" for i in range(len(TEXTS))]
    for res in body["results"]:
        assert set(res) == {"id", "stored_id", "category", "category_secondary", "sentiment", "urgency", "priority",
                            "route", "needs_review", "review_reasons", "deduplicated"}
        assert isinstance(res["stored_id"], int) and res["deduplicated"] is False
        assert res["needs_review"] == bool(res["review_reasons"])
        check_head(res, "category", CATEGORY)
        check_head(res, "sentiment", SENTIMENT)
        check_head(res, "urgency", URGENCY)
        assert res["category_secondary"] in (None, *CATEGORY)
        assert res["category_secondary"] != res["category"]["label"]
        p = res["priority"]
        assert set(p) == {"quadrant", "level", "urgent", "important", "respond_by", "resolve_by", "calendar_uncovered"}
        assert p["quadrant"] in QUADRANTS and p["level"] in LEVELS
        respond, resolve = datetime.fromisoformat(p["respond_by"]), datetime.fromisoformat(p["resolve_by"])
        assert respond.utcoffset().total_seconds() == 8 * 3600  # Asia/Shanghai
        assert resolve > respond
        assert isinstance(res["route"], str) and res["route"]
        assert isinstance(res["needs_review"], bool)


def test_review_reasons_name_possible_high_urgency_and_are_stored(make_client, watched_bundle):
    from classifier.runtime import Classifier

    api = make_client(Classifier.load(watched_bundle))
    r = api.classify(items())
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    for res in results:
        assert res["needs_review"]
        if res["urgency"]["label"] != "high":
            assert "possible_high_urgency" in res["review_reasons"]
    queue = api.client.get("/v1/review", headers=api.headers("supervisor")).json()
    stored = {item["item_id"]: item["predictions"]["review_reasons"] for item in queue["items"]}
    assert stored == {res["id"]: res["review_reasons"] for res in results}


def test_results_match_the_runtime_and_keep_request_order(tiny_api, tiny_classifier):
    texts = list(reversed(TEXTS)) + ["短", "这是一段比较长的反馈" * 20]
    body = tiny_api.classify(items(texts)).json()
    expected = tiny_classifier.predict(texts)
    for res, pred in zip(body["results"], expected):
        for head in LABELS:
            assert res[head]["label"] == pred.heads[head].label
            assert res[head]["confidence"] == pytest.approx(pred.heads[head].confidence, abs=1e-6)
        assert res["needs_review"] == pred.needs_review


def test_single_item_and_metadata(tiny_api):
    r = tiny_api.classify([{"id": "vip-1", "text": "转账失败了", "metadata": {"customer_tier": "vip", "channel": "app", "amount": 80000}}])
    res = r.json()["results"][0]
    # customer_tier vip and amount ≥ 50000 are importance rules in configs/priority.yaml
    assert res["priority"]["important"] is True
    assert res["priority"]["quadrant"] in ("urgent_important", "important_not_urgent")


def test_received_at_sets_the_deadlines(tiny_api):
    # Received Friday 2025-09-26 10:00 in Shanghai; the National Day holiday runs 10-01..10-08
    # and Saturday 09-28 and Saturday 10-11 are make-up working days.
    r = tiny_api.classify([{"id": "1", "text": "信用卡年费乱收费，要求退还", "received_at": "2025-09-26T10:00:00+08:00"}])
    p = r.json()["results"][0]["priority"]
    from classifier.priority import PriorityMatrix

    res = r.json()["results"][0]
    expected = PriorityMatrix.from_yaml("configs/priority.yaml").assess(
        res["category"]["label"], res["sentiment"]["label"], res["urgency"]["label"],
        {}, datetime.fromisoformat("2025-09-26T10:00:00+08:00"),
    )
    assert p["resolve_by"] == expected.resolve_by.isoformat(timespec="seconds")
    assert p["respond_by"] == expected.respond_by.isoformat(timespec="seconds")


def test_request_id_is_echoed_or_generated(tiny_api):
    r = tiny_api.classify(items()[:1], headers={"X-Request-ID": "ticket-sys.42:abc"})
    assert r.headers["x-request-id"] == "ticket-sys.42:abc"
    r = tiny_api.classify(items()[:1], headers={"X-Request-ID": "bad id with spaces"})
    generated = r.headers["x-request-id"]
    assert generated != "bad id with spaces" and len(generated) == 32


def test_openapi_documents_limits_examples_and_errors(tiny_api):
    spec = tiny_api.client.get("/openapi.json").json()
    op = spec["paths"]["/v1/classify"]["post"]
    ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    request_schema = spec["components"]["schemas"][ref]
    assert request_schema["examples"]
    assert request_schema["properties"]["items"]["maxItems"] == tiny_api.settings.max_batch_items
    item = spec["components"]["schemas"]["ClassifyItem"]
    assert item["properties"]["text"]["maxLength"] == tiny_api.settings.max_text_chars
    assert set(op["responses"]) >= {"200", "400", "401", "403", "413", "415", "422", "429", "503"}
    assert spec["components"]["schemas"]["ClassifyResponse"]["examples"]
    assert {"HTTPBearer", "APIKeyHeader"} <= set(spec["components"]["securitySchemes"])


def test_a_lone_request_runs_on_every_core_and_concurrent_ones_do_not(make_client):
    """The service loads the bundle with a solo session (all of its cores) and gives it a request
    that is all the work in flight (serving/inference/batcher.py); the answers are the same either way."""
    from pathlib import Path

    from serving.settings import solo_threads

    bundle = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_bundle"
    api = make_client(None, bundle_dir=bundle, model_workers=2, model_threads=1)
    clf = api.services.classifier
    expected = solo_threads(api.settings)
    assert clf.solo_threads == expected
    before = clf.solo_calls
    first = api.classify(items()[:1])
    assert first.status_code == 200, first.text
    if expected:
        assert clf.solo_calls == before + 1
        assert api.services.batcher.alone_batches >= 1
    else:  # a one-core machine: nothing wider to run on
        assert clf.solo_calls == before
    again = make_client(None, bundle_dir=bundle, model_workers=2, model_threads=1, model_solo_session=False)
    assert again.services.classifier.solo_threads == 0
    narrow = again.classify(items()[:1])
    assert narrow.json()["results"][0]["category"] == first.json()["results"][0]["category"]
    assert narrow.json()["results"][0]["urgency"]["confidence"] == pytest.approx(
        first.json()["results"][0]["urgency"]["confidence"], abs=1e-5)
