"""A deterministic stand-in for classifier.runtime.Classifier: keyword rules, same interface.

Used where a test needs to know which labels come out (matrix counts, routing, persistence);
contract tests run against the real tiny bundle.
"""
from __future__ import annotations

import threading

from classifier.labels import LABELS
from classifier.runtime import HeadPrediction, Prediction

RULES = {
    "category": [("fees", ("年费", "手续费", "利息", "收费")), ("contract_legal", ("合同", "催收", "未经同意", "征信")),
                 ("other", ("哈哈", "666"))],
    "sentiment": [("positive", ("好评", "满意", "谢谢")), ("negative", ("垃圾", "投诉", "退还", "太差", "催收"))],
    "urgency": [("high", ("盗刷", "报警", "催收", "银保监")), ("medium", ("失败", "闪退", "退还"))],
}
DEFAULTS = {"category": "product_service", "sentiment": "neutral", "urgency": "low"}


class FakeClassifier:
    model_version = "fake-2026-11-23-000000"

    def __init__(self, delay_s: float = 0.0, review_word: str = "不确定"):
        self.delay_s = delay_s
        self.review_word = review_word
        self.calls: list[int] = []  # batch sizes seen, for micro-batching tests
        self._lock = threading.Lock()

    def predict(self, texts: list[str]) -> list[Prediction]:
        import time

        with self._lock:
            self.calls.append(len(texts))
        if self.delay_s:
            time.sleep(self.delay_s)
        return [self._one(t) for t in texts]

    def _one(self, text: str) -> Prediction:
        heads = {}
        for head, labels in LABELS.items():
            label = next((lab for lab, words in RULES[head] if any(w in text for w in words)), DEFAULTS[head])
            rest = (1 - 0.9) / (len(labels) - 1)
            scores = {lab: (0.9 if lab == label else rest) for lab in labels}
            heads[head] = HeadPrediction(label, 0.9, scores)
        review = self.review_word in text
        if review:  # "很不确定": less sure still (a smaller margin, for the queue's order)
            top = 0.34 if "很" + self.review_word in text else 0.4
            rest = (1 - top) / (len(LABELS["category"]) - 1)
            heads["category"] = HeadPrediction(heads["category"].label, top,
                                               {lab: (top if lab == heads["category"].label else rest) for lab in LABELS["category"]})
        if "很疑似紧急" in text and heads["urgency"].label == "low":  # a likelier urgent item: P(high) 0.45
            heads["urgency"] = HeadPrediction("low", 0.5, {"high": 0.45, "medium": 0.05, "low": 0.5})
        secondary = "contract_legal" if heads["category"].label == "fees" and "未经同意" in text else None
        reasons = ["category_uncertain"] if review else []
        # the review policy's watch (疑似紧急 / 疑似法律) and guideline rule signals ("rule:NAME ")
        reasons += [r for word, r in (("疑似紧急", "possible_high_urgency"), ("疑似法律", "possible_contract_legal"))
                    if word in text]
        reasons += [w for w in text.split() if w.startswith("rule:")]
        return Prediction(heads=heads, needs_review=bool(reasons), category_secondary=secondary,
                          review_heads=["category"] if review else [], review_reasons=reasons)


def first_release_row(now) -> dict:
    """A classifications row with only the columns of the first release (migration 0001), for
    tests that upgrade an old database with rows in it."""
    return {"request_id": "r1", "item_id": "old", "text_masked": "转账失败", "metadata": {}, "predictions": {},
            "model_version": "v0", "category": "product_service", "sentiment": "negative", "urgency": "low",
            "urgent": False, "important": False, "quadrant": "not_urgent_not_important", "level": "P4",
            "respond_by": now, "resolve_by": now, "route": "customer_service", "needs_review": True,
            "received_at": now, "created_at": now}
