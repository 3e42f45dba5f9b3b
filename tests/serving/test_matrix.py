"""GET /v1/matrix over stored results: counts, filters, HTML heatmap."""
from __future__ import annotations

import pytest

from classifier.priority import QUADRANTS

# Fake classifier outputs (tests/serving/fakes.py) and the default configs/priority.yaml:
#   年费 … 退还 → fees / negative / medium → important (fees_negative), not urgent → P2
#   催收        → contract_legal / negative / high → urgent + important → P1
#   闪退        → product_service / neutral / medium → P4 (unless metadata makes it important)
#   盗刷        → product_service / neutral / high → urgent, not important → P3
ITEMS = [
    {"id": "1", "text": "年费乱扣要求退还", "metadata": {"channel": "app"}, "received_at": "2026-01-05T10:00:00+08:00"},
    {"id": "2", "text": "催收骚扰", "metadata": {"channel": "phone"}, "received_at": "2026-01-06T10:00:00+08:00"},
    {"id": "3", "text": "手机银行闪退", "metadata": {"channel": "app"}, "received_at": "2026-01-07T10:00:00+08:00"},
    {"id": "4", "text": "卡被盗刷", "metadata": {"channel": "app"}, "received_at": "2026-01-08T10:00:00+08:00"},
    {"id": "5", "text": "手机银行闪退", "metadata": {"channel": "app", "customer_tier": "vip"},
     "received_at": "2026-01-09T10:00:00+08:00"},
]


@pytest.fixture
def api(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    r = api.classify(ITEMS)
    assert r.status_code == 200, r.text
    return api


def matrix(api, **params):
    r = api.client.get("/v1/matrix", params=params, headers=api.headers("supervisor"))
    assert r.status_code == 200, r.text
    return r.json()


def test_counts_per_cell_category_and_urgency(api):
    m = matrix(api)
    assert m["total"] == 5
    assert m["cells"] == {"urgent_important": 1, "important_not_urgent": 2, "urgent_not_important": 1,
                          "not_urgent_not_important": 1}
    assert m["by_category"]["fees"]["important_not_urgent"] == 1
    assert m["by_category"]["contract_legal"]["urgent_important"] == 1
    assert m["by_category"]["product_service"] == {"urgent_important": 0, "important_not_urgent": 1,
                                                   "urgent_not_important": 1, "not_urgent_not_important": 1}
    assert m["by_urgency"] == {"high": {"important": 1, "not_important": 1},
                               "medium": {"important": 2, "not_important": 1},
                               "low": {"important": 0, "not_important": 0}}
    assert m["quadrant_levels"]["urgent_important"] == "P1"
    assert sum(m["cells"].values()) == m["total"]
    assert set(m["cells"]) == set(QUADRANTS)


def test_filters(api):
    assert matrix(api, channel="app")["total"] == 4
    assert matrix(api, channel="phone")["cells"]["urgent_important"] == 1
    assert matrix(api, category="product_service")["total"] == 3
    # Naive times are Shanghai time; `from` is inclusive and `to` exclusive.
    m = matrix(api, **{"from": "2026-01-06T10:00:00", "to": "2026-01-08T10:00:00"})
    assert m["total"] == 2
    assert m["filters"]["from"] == "2026-01-06T10:00:00+08:00"
    assert matrix(api, **{"from": "2026-01-06T02:00:00Z"})["total"] == 4  # same instant in UTC
    assert matrix(api, channel="app", category="product_service", to="2026-01-08T00:00:00+08:00")["total"] == 1
    assert matrix(api, channel="none")["total"] == 0


def test_html_heatmap(api):
    h = api.headers("supervisor")
    for r in (api.client.get("/v1/matrix.html", headers=h),
              api.client.get("/v1/matrix", headers={**h, "Accept": "text/html"})):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert "紧急且重要" in r.text and "费用及收费标准" in r.text
        # shaded by class (serving/static/views.css), the busiest cell darkest: no inline style under the CSP
        assert 'class="cell shade-10"' in r.text and "style=" not in r.text
    r = api.client.get("/v1/matrix.html", params={"channel": "<script>x</script>"}, headers=h)
    assert r.status_code == 200 and "<script>x</script>" not in r.text  # escaped


def test_matrix_needs_a_supervisor_or_admin(api):
    assert api.client.get("/v1/matrix").status_code == 401
    assert api.client.get("/v1/matrix.html", headers=api.headers("ingest")).status_code == 403
    assert api.client.get("/v1/matrix", headers=api.headers("admin")).status_code == 200
