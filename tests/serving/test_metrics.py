"""/metrics: Prometheus text with request, latency, batch, label, review and model series."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_metrics_content(api, fake_classifier):
    api.classify([{"id": "1", "text": "年费乱扣要求退还"}, {"id": "2", "text": "转账失败 不确定"}])
    api.classify([{"id": "3", "text": "催收骚扰"}])
    api.classify([{"id": "4", "text": " "}])  # 422
    api.client.get("/v1/matrix", headers=api.headers("supervisor"))
    r = api.client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    s = samples(r.text)

    def value(name, **labels):
        return s.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("triage_http_requests_total", route="/v1/classify", method="POST", status="200") == 2
    assert value("triage_http_requests_total", route="/v1/classify", method="POST", status="422") == 1
    assert value("triage_http_requests_total", route="/v1/matrix", method="GET", status="200") == 1
    assert value("triage_http_request_duration_seconds_count", route="/v1/classify", method="POST") == 3
    assert value("triage_http_request_duration_seconds_bucket", route="/v1/classify", method="POST", le="+Inf") == 3
    assert value("triage_batch_size_sum") == 3  # three items went through the model
    assert value("triage_batch_size_count") >= 1
    assert value("triage_request_items_sum") == 3
    assert value("triage_predictions_total", head="category", label="fees") == 1
    assert value("triage_predictions_total", head="category", label="contract_legal") == 1
    assert value("triage_predictions_total", head="urgency", label="high") == 1
    assert value("triage_needs_review_total") == 1
    assert value("triage_review_queue_depth") == 1
    assert value("triage_routed_total", queue="billing") == 1
    assert value("triage_model_info", version=fake_classifier.model_version, bundle="default") == 1
    assert value("triage_batch_queue_items") == 0
