"""A guideline rule signal's name reaches the classify response and the stored item (classifier/signals.py)."""

RULE_TEXT = "今天是还款日，APP一直闪退还不了款"


def test_the_rule_reaches_the_api_and_the_stored_item(make_client, tiny_classifier):
    api = make_client(tiny_classifier)
    r = api.classify([{"id": "rule-1", "text": RULE_TEXT}])
    assert r.status_code == 200, r.text
    res = r.json()["results"][0]
    assert "rule:due_today_failure" in res["review_reasons"] and res["needs_review"]
    queue = api.client.get("/v1/review", headers=api.headers("supervisor")).json()
    stored = {item["item_id"]: item["predictions"]["review_reasons"] for item in queue["items"]}
    assert "rule:due_today_failure" in stored["rule-1"]
