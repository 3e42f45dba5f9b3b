"""The label sets of the three heads: the single home of label names and their order.

The order of each tuple is the order of the model's logits, so it is part of the bundle
contract (a bundle stores the label sets it was trained with and loading checks them).
"""
from __future__ import annotations

CATEGORY = ("product_service", "fees", "contract_legal", "other")
SENTIMENT = ("negative", "neutral", "positive")
URGENCY = ("high", "medium", "low")

# head name -> ordered label names
LABELS: dict[str, tuple[str, ...]] = {
    "category": CATEGORY,
    "sentiment": SENTIMENT,
    "urgency": URGENCY,
}
HEADS: tuple[str, ...] = tuple(LABELS)

# Columns of a labelled row, in file order: what training reads (training/data/schema.py validates them)
# and what `triage review export` writes from supervisors' decisions.
LABELLED_FIELDS: tuple[str, ...] = ("id", "text", "category", "category_secondary", "sentiment", "urgency", "source")

# Chinese names used in reports and the review UI (产品及服务质量 / 费用及收费标准 / 合同及法律法规).
DISPLAY_ZH: dict[str, str] = {
    "product_service": "产品及服务质量",
    "fees": "费用及收费标准",
    "contract_legal": "合同及法律法规",
    "other": "其他",
    "negative": "负面",
    "neutral": "中性",
    "positive": "正面",
    "high": "高",
    "medium": "中",
    "low": "低",
    # priority-matrix quadrants (classifier.priority.QUADRANTS)
    "urgent_important": "紧急且重要",
    "important_not_urgent": "重要不紧急",
    "urgent_not_important": "紧急不重要",
    "not_urgent_not_important": "不紧急不重要",
}


def canonical_label(head: str, value: str) -> str:
    """``value`` as ``head``'s label name: the name itself, or its Chinese display name (what
    ``triage score --labels zh`` writes, so that a scored and corrected file can be read back as
    labelled data); anything else is returned unchanged for the caller to refuse. ``head`` may be
    ``category_secondary`` (the category labels)."""
    labels = LABELS["category" if head == "category_secondary" else head]
    if value in labels:
        return value
    for label in labels:
        if DISPLAY_ZH.get(label) == value:
            return label
    return value


def label_index(head: str, label: str) -> int:
    """Index of ``label`` in ``head``'s label set; raises ``KeyError`` for an unknown one."""
    try:
        return LABELS[head].index(label)
    except ValueError:
        raise KeyError(f"unknown {head} label {label!r}; expected one of {', '.join(LABELS[head])}") from None
