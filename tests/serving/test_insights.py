"""/insights over stored results: the report's numbers for what the service classified, filtered."""
from __future__ import annotations

import pytest

# Fake classifier outputs (tests/serving/fakes.py), default configs/priority.yaml (see test_matrix.py):
# 年费…退还 → fees/negative → P2; 催收 → contract_legal/negative/high → P1; 闪退 → product_service → P4; 盗刷 → P3.
ITEMS = [
    {"id": "1", "text": "年费乱扣要求退还，电话13812345678", "metadata": {"channel": "app"}, "received_at": "2026-01-05T10:00:00+08:00"},
    {"id": "2", "text": "催收骚扰", "metadata": {"channel": "phone"}, "received_at": "2026-01-06T10:00:00+08:00"},
    {"id": "3", "text": "手机银行闪退", "metadata": {"channel": "app"}, "received_at": "2026-01-07T10:00:00+08:00"},
    {"id": "4", "text": "卡被盗刷", "metadata": {"channel": "app"}, "received_at": "2026-01-08T10:00:00+08:00"},
    {"id": "5", "text": "手机银行闪退", "metadata": {"channel": "app"}, "received_at": "2026-01-09T10:00:00+08:00"},
]


@pytest.fixture
def api(make_client, fake_classifier):
    api = make_client(fake_classifier)
    assert api.classify(ITEMS).status_code == 200
    return api


def get(api, path="/v1/insights", role="supervisor", **params):
    return api.client.get(path, params=params, headers=api.headers(role))


def test_insights_count_what_is_stored_under_the_filters(api):
    s = get(api).json()
    assert s["total"] == s["matching"] == 5 and not s["truncated"]
    assert s["distribution"]["category"] == {"product_service": 3, "fees": 1, "contract_legal": 1, "other": 0}
    assert s["matrix"]["cells"] == {"urgent_important": 1, "important_not_urgent": 1, "urgent_not_important": 1,
                                    "not_urgent_not_important": 2}
    assert s["trend"]["unit"] == "day" and [b["volume"] for b in s["trend"]["buckets"]] == [1, 1, 1, 1, 1]
    assert {r["segment"]: r["volume"] for r in s["segments"]["rows"]} == {"app": 4, "phone": 1}
    assert "13812345678" not in str(s) and any("138****5678" in q["text"] for q in s["quotes"]["by_category"]["fees"])
    assert "闪退" in [t for t, _ in s["terms"]["by_category"]["product_service"]]

    assert get(api, channel="phone").json()["total"] == 1
    assert get(api, category="product_service").json()["distribution"]["category"]["product_service"] == 3
    ranged = get(api, **{"from": "2026-01-06T00:00:00", "to": "2026-01-08T00:00:00"}).json()
    assert ranged["total"] == 2 and ranged["filters"]["from"] == "2026-01-06T00:00:00+08:00"
    assert get(api, channel="none").json() == {"total": 0, "matching": 0, "truncated": False, "filters": {
        "from": None, "to": None, "channel": "none", "category": None}}
    assert get(api, **{"from": "2026-01-09T00:00:00", "to": "2026-01-01T00:00:00"}).status_code == 422


def test_the_insights_html_and_page(api):
    r = get(api, "/v1/insights.html", channel="<script>x</script>")
    assert r.status_code == 200 and "<script>x</script>" not in r.text  # escaped
    html = get(api, "/v1/insights.html").text
    for heading in ("各维度分布", "类别 × 情感", "优先级矩阵", "人工复核", "趋势", "热词", "代表性原文", "渠道对比"):
        assert heading in html
    assert "138****5678" in html and "13812345678" not in html
    page = api.client.get("/insights")
    assert page.status_code == 200 and "/v1/insights.html" in page.text


def test_insights_need_a_supervisor_or_admin(api):
    assert api.client.get("/v1/insights").status_code == 401
    assert get(api, role="ingest").status_code == 403
    assert get(api, "/v1/insights.html", role="admin").status_code == 200
