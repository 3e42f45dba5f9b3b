"""A ticket system finds its own items: GET /v1/items?item_id= (newest first); list routes refuse
query parameters they do not take (422 E513 naming them) instead of ignoring them."""
from __future__ import annotations

import pytest

from serving.review.schemas import ItemList


def test_a_caller_finds_its_items_by_its_own_id_newest_first(make_client, fake_classifier, db_url):
    api = make_client(fake_classifier, database_url=db_url)
    assert api.classify([{"id": "TK-1", "text": "年费 不确定"}, {"id": "TK-2", "text": "转账"}]).status_code == 200
    assert api.classify([{"id": "TK-1", "text": "年费 投诉 催收"}]).status_code == 200  # the ticket, sent again
    sup = api.headers("supervisor")
    r = api.client.get("/v1/items", headers=sup, params={"item_id": "TK-1"})
    assert r.status_code == 200, r.text
    found = ItemList.model_validate(r.json()).items
    assert [i.text for i in found] == ["年费 投诉 催收", "年费 不确定"] and found[0].id > found[1].id
    assert {i.item_id for i in found} == {"TK-1"}
    assert len(api.client.get("/v1/items", headers=sup, params={"item_id": "TK-1", "limit": 1}).json()["items"]) == 1
    assert api.client.get("/v1/items", headers=sup, params={"item_id": "TK-404"}).json() == {"items": []}
    r = api.client.get("/v1/items", headers=sup)
    assert r.status_code == 422 and r.json()["error"]["code"] == "E513"  # item_id is required
    assert api.client.get("/v1/items", headers=api.headers("ingest"), params={"item_id": "TK-1"}).status_code == 403


@pytest.mark.parametrize("path, params, unknown", [
    ("/v1/review", {"ticket": "TK-1"}, ["ticket"]),
    ("/v1/review", {"lmit": "5", "status": "all", "zz": "1"}, ["lmit", "zz"]),
    ("/v1/items", {"item_id": "TK-1", "status": "pending"}, ["status"]),
    ("/v1/review/export", {"page": "5", "limit": "5"}, ["page"]),
])
def test_list_routes_name_an_unknown_query_parameter(api, path, params, unknown):
    r = api.client.get(path, headers=api.headers("supervisor"), params=params)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "E513" and all(name in error["message"] for name in unknown)
    assert [d["loc"] for d in error["details"]] == [["query", name] for name in unknown]


def test_known_parameters_and_aliases_still_pass(api):
    sup = api.headers("supervisor")
    r = api.client.get("/v1/review", headers=sup, params={"from": "2026-12-01T00:00:00", "to": "2026-12-02T00:00:00",
                                                          "status": "all", "limit": 5, "level": ["P1", "P2"]})
    assert r.status_code == 200, r.text
    assert api.client.get("/v1/review/export", headers=sup, params={"since": "2026-12-01T00:00:00"}).status_code == 200
