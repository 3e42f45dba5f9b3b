"""Explanations (serving/review/explain.py): no filler highlighted, the watched class explained,
computed in the background when an item is queued."""
from __future__ import annotations

import asyncio
import time

from classifier.labels import LABELS
from classifier.priority import WatchTable
from classifier.runtime import HeadPrediction, Prediction
from classifier.text.stopwords import is_filler
from serving.review.explain import ExplanationCache, explain
from serving.review.schemas import Explanation

PUNCTUATION = set("，。！？、,.!?；;：:“”\"'（）() *")


def _head(label_probs: dict[str, float], head: str) -> HeadPrediction:
    labels = LABELS[head]
    rest = (1 - sum(label_probs.values())) / (len(labels) - len(label_probs))
    scores = {lab: label_probs.get(lab, rest) for lab in labels}
    best = max(scores, key=scores.get)
    return HeadPrediction(best, scores[best], scores)


def sensitive_to_fillers(texts):
    """A model that leans on function words as much as on content: 了 and 的 move P(negative)
    more than any content word does (as a small model's scores can), 不见 raises P(high) a little
    (the model still says low: the watched case), 钱 raises P(contract_legal)."""
    out = []
    for t in texts:
        neg = 0.3 + 0.3 * ("了" in t) + 0.2 * ("的" in t) + 0.05 * ("钱" in t)
        high = 0.06 + 0.14 * ("不见" in t) + 0.02 * ("钱" in t)
        legal = 0.1 + 0.15 * ("钱" in t)
        out.append(Prediction(heads={"category": _head({"contract_legal": legal, "product_service": 0.6}, "category"),
                                     "sentiment": _head({"negative": neg}, "sentiment"),
                                     "urgency": _head({"high": high, "low": 0.7}, "urgency")},
                              needs_review=True, review_reasons=["possible_high_urgency"]))
    return out


async def _predict(texts):
    return sensitive_to_fillers(texts)


def run(text, reasons=(), labels=None):
    labels = labels or {h: p.label for h, p in sensitive_to_fillers([text])[0].heads.items()}
    return asyncio.run(explain(_predict, text, labels, model_version="m", max_segments=24, cache=ExplanationCache(8),
                               reasons=reasons, watch=WatchTable()))


def highlights(result):
    entries = [e for head in result["heads"].values() for e in (head, head.get("reviewed")) if e] + result["watched"]
    return [part for e in entries for t in e["top"] for part in t["parts"]]


def test_no_stop_word_or_punctuation_is_highlighted_though_the_model_leans_on_them():
    text = "我的钱不见了，这种情况怎么办？"
    result = run(text, reasons=["possible_high_urgency"])
    Explanation.model_validate({"id": 1, **result})
    parts = highlights(result)
    assert parts, "the content words are highlighted"
    for part in parts:
        assert not is_filler(part["text"]) and not set(part["text"]) & PUNCTUATION, part
        assert text[part["start"]:part["end"]] == part["text"]
    # The fillers are still listed (the page shows the whole text), flagged, with no occlusion unit.
    fillers = {s["text"] for s in result["segments"] if s["filler"]}
    assert {"我", "的", "了", "这种", "，", "？"} <= fillers
    assert all(s["unit"] is None for s in result["segments"] if s["filler"])
    # What the old explanation would have shown first for sentiment: 了 (-0.3). Now the content word.
    assert result["heads"]["sentiment"]["top"][0]["text"] == "钱"


def test_a_watched_item_is_explained_for_the_class_it_is_watched_for():
    text = "我的钱不见了"
    result = run(text, reasons=["category_uncertain", "possible_high_urgency"])
    assert result["heads"]["urgency"]["label"] == "low"  # the model's label
    (watched,) = result["watched"]  # category_uncertain names no class
    assert (watched["reason"], watched["head"], watched["label"]) == ("possible_high_urgency", "urgency", "high")
    assert watched["reason_zh"] == "可能为高紧急度" and watched["matched"] == []
    assert watched["top"][0]["text"] == "不见" and watched["top"][0]["delta"] > 0.1
    assert abs(watched["probability"] - 0.22) < 1e-6


def test_a_rule_reason_names_its_classes_and_the_words_its_pattern_matched():
    text = "卡里的5万块钱不见了！！"
    result = run(text, reasons=["rule:money_gone"])
    classes = {(w["head"], w["label"]) for w in result["watched"]}
    assert classes == {("urgency", "high"), ("category", "contract_legal")}
    for w in result["watched"]:
        assert w["reason_zh"] == "规则：资金不明减少"
        assert w["matched"] and all(text[m["start"]:m["end"]] == m["text"] for m in w["matched"])
        assert "不见了" in w["matched"][0]["text"]
    # Full-width and traditional text is matched through its normalized form, offsets in the original.
    trad = "卡裡的５萬塊錢不見了"
    matched = run(trad, reasons=["rule:money_gone"])["watched"][0]["matched"]
    assert matched == [{"text": trad, "start": 0, "end": len(trad)}]


def test_long_texts_are_occluded_in_groups_of_content_words_only():
    from serving.review.explain import units_of, words_of

    text = "的年费，" * 30 + "催收电话" * 30
    units = units_of(words_of(text), 10)
    assert len(units) <= 10
    for unit in units:
        assert all(not is_filler(text[s:e]) for s, e in unit)


def wait_until(done, seconds: float = 20.0) -> None:
    """Poll ``done`` until true or ``seconds`` pass (the caller asserts what it needs afterwards)."""
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_queued_item_is_explained_in_the_background(make_client, fake_classifier):
    api = make_client(fake_classifier, explain_poll_seconds=0.05)
    r = api.classify([{"id": "w", "text": "疑似紧急 我的钱不见了"}, {"id": "n", "text": "年费怎么收"}])
    assert r.status_code == 200, r.text
    explainer = api.app.state.explainer
    wait_until(lambda: explainer.explained >= 1)
    assert explainer.explained == 1  # the queued item only
    h = api.headers("supervisor")
    (item,) = api.client.get("/v1/review", headers=h).json()["items"]
    body = api.client.get(f"/v1/items/{item['id']}/explanation", headers=h).json()
    assert body["cached"] is True, body  # opening it costs nothing
    assert [(w["reason"], w["label"]) for w in body["watched"]] == [("possible_high_urgency", "high")]
    metrics = api.client.get("/metrics").text
    assert 'triage_explanation_duration_seconds_count{trigger="queued"} 1.0' in metrics


def test_an_explanation_is_kept_with_its_item_across_a_restart(make_client, fake_classifier, db_url):
    first = make_client(fake_classifier, database_url=db_url, explain_poll_seconds=0.05)
    first.classify([{"id": "w", "text": "疑似紧急 我的钱不见了"}])
    wait_until(lambda: first.app.state.explainer.explained >= 1)
    (item,) = first.client.get("/v1/review", headers=first.headers("supervisor")).json()["items"]
    computed = first.client.get(f"/v1/items/{item['id']}/explanation", headers=first.headers("supervisor")).json()
    # Another process (or the same service after a restart): an empty memory, the same database.
    calls = len(fake_classifier.calls)
    second = make_client(fake_classifier, database_url=db_url)
    again = second.client.get(f"/v1/items/{item['id']}/explanation", headers=second.headers("supervisor")).json()
    assert again["cached"] is True and len(fake_classifier.calls) == calls  # read back, not computed
    assert {k: v for k, v in again.items() if k not in ("cached", "elapsed_ms")} == \
        {k: v for k, v in computed.items() if k not in ("cached", "elapsed_ms")}
    # Without persistence the next process computes it.
    third = make_client(fake_classifier, database_url=db_url, explain_persist=False)
    fresh = third.client.get(f"/v1/items/{item['id']}/explanation", headers=third.headers("supervisor")).json()
    assert fresh["cached"] is False and len(fake_classifier.calls) > calls


def test_kept_explanations_of_a_model_no_longer_served_are_pruned(make_client, fake_classifier, db_url):
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import select

    from serving.db.tables import ItemExplanation

    first = make_client(fake_classifier, database_url=db_url, explain_poll_seconds=0.05)
    first.classify([{"id": "w", "text": "疑似紧急 我的钱不见了"}])
    wait_until(lambda: first.app.state.explainer.explained >= 1)
    sessions = first.services.sessions
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with sessions.begin() as session:
        (kept,) = session.scalars(select(ItemExplanation)).all()
        item, current = kept.classification_id, kept.model_version
        session.add_all([
            ItemExplanation(classification_id=item, cache_key="old-model-old", model_version="old-model", body={},
                            created_at=now - timedelta(days=30)),
            ItemExplanation(classification_id=item, cache_key="old-model-new", model_version="old-model", body={},
                            created_at=now - timedelta(hours=1)),  # a rolling deploy may still read it
            ItemExplanation(classification_id=item, cache_key="current-old", model_version=current, body={},
                            created_at=now - timedelta(days=30)),
        ])
    # A service process starting on the same database prunes in its background task.
    make_client(fake_classifier, database_url=db_url, explain_poll_seconds=0.05)

    def kept_keys() -> set[str]:
        with sessions() as session:
            return set(session.scalars(select(ItemExplanation.cache_key)))

    wait_until(lambda: "old-model-old" not in kept_keys())
    assert kept_keys() == {kept.cache_key, "old-model-new", "current-old"}
