"""What a set of scored feedback says, as numbers: the content of `triage report` and of the
service's /insights page, computed in one place so the two never disagree.

Pure Python over :class:`Item` s (no plotting, no files, no database): the report reads items from
a scored file, the service from stored results; both render what :func:`summarize` returns.
Quotes are masked by the caller's ``mask`` (the project's PII masker) before they leave here.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Iterable, Sequence

from classifier.labels import CATEGORY, HEADS, LABELS
from classifier.priority import LEVELS, QUADRANTS

URGENT_LEVELS = ("P1", "P2")  # "P1/P2 share": what needs a first response within the day
MIN_QUOTE_CHARS = 12  # a typical quote says something: texts this long come before shorter ones


@dataclass
class Item:
    """One scored feedback (labels in English codes)."""

    category: str
    sentiment: str
    urgency: str
    quadrant: str
    level: str
    needs_review: bool = False
    confidence: dict[str, float] = field(default_factory=dict)  # head -> confidence
    text: str = ""
    received: date | None = None
    segment: str | None = None
    review_reasons: Sequence[str] = ()


def bucket_unit(first: date, last: date) -> str:
    """``day`` for up to a month of data, ``week`` for up to half a year, else ``month``."""
    span = (last - first).days
    return "day" if span <= 31 else "week" if span <= 183 else "month"


def bucket_of(day: date, unit: str) -> str:
    if unit == "day":
        return day.isoformat()
    if unit == "week":  # labelled by its Monday
        return (day - timedelta(days=day.weekday())).isoformat()
    return day.strftime("%Y-%m")


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def summarize(
    items: Sequence[Item],
    mask: Callable[[str], str],
    words: Callable[[Iterable[str]], list[list[str]]] | None = None,
    top_terms: int = 10,
    quotes: int = 3,
    max_segments: int = 12,
    quote_chars: int = 160,
) -> dict[str, Any]:
    """Every section of the report as JSON-ready data (see the keys below).

    ``words`` segments texts into useful words (default: classifier.analytics.terms.segment_all);
    pass ``top_terms=0`` to skip the terms (and the segmentation cost).
    """
    n = len(items)
    out: dict[str, Any] = {"total": n}

    out["distribution"] = {h: {label: 0 for label in LABELS[h]} for h in HEADS}
    out["levels"] = {level: 0 for level in LEVELS}
    cat_sent = {c: {s: 0 for s in LABELS["sentiment"]} for c in CATEGORY}
    matrix = {c: {q: 0 for q in QUADRANTS} for c in CATEGORY}
    reasons: Counter = Counter()
    for it in items:
        for head in HEADS:
            label = getattr(it, head)
            out["distribution"][head][label] = out["distribution"][head].get(label, 0) + 1
        out["levels"][it.level] = out["levels"].get(it.level, 0) + 1
        cat_sent[it.category][it.sentiment] += 1
        matrix[it.category][it.quadrant] += 1
        reasons.update(it.review_reasons)
    out["category_sentiment"] = cat_sent
    out["matrix"] = {"by_category": matrix, "cells": {q: sum(matrix[c][q] for c in CATEGORY) for q in QUADRANTS}}
    reviewed = sum(it.needs_review for it in items)
    out["review"] = {
        "count": reviewed, "share": _share(reviewed, n), "reasons": dict(reasons.most_common()),
        "by_category": {c: _share(sum(it.needs_review for it in items if it.category == c),
                                  sum(1 for it in items if it.category == c)) for c in CATEGORY},
    }
    out["trend"] = _trend(items)
    out["segments"] = _segments(items, max_segments)

    by_category = {c: [it for it in items if it.category == c] for c in CATEGORY}
    by_cell = {q: [it for it in items if it.quadrant == q] for q in QUADRANTS}
    of: dict[int, list[str]] = {}
    weights: dict[str, dict[str, float]] = {}
    if top_terms:
        from classifier.analytics.terms import class_tfidf, class_weights, segment_all

        segmented = (words or segment_all)([it.text for it in items])
        of = {id(it): ws for it, ws in zip(items, segmented)}
        negative = {c: [of[id(it)] for it in g if it.sentiment == "negative"] for c, g in by_category.items()}
        others = [of[id(it)] for it in items if it.sentiment != "negative"]
        out["terms"] = {
            "by_category": class_tfidf({c: [of[id(it)] for it in g] for c, g in by_category.items()}, top_terms),
            "by_cell": class_tfidf({q: [of[id(it)] for it in g] for q, g in by_cell.items()}, top_terms),
            # what negative feedback says, against the rest: per category among negatives (the
            # non-negative texts as one more group, so that words every text uses sink), and overall
            "negative_by_category": {c: t for c, t in class_tfidf({**negative, " rest": others}, top_terms).items()
                                     if c != " rest"},
            "negative": class_tfidf({"negative": [w for ws in negative.values() for w in ws], " rest": others},
                                    top_terms)["negative"],
        }
        weights = class_weights({c: [of[id(it)] for it in g] for c, g in by_category.items()})
        weights.update(class_weights({q: [of[id(it)] for it in g] for q, g in by_cell.items()}))
    else:
        out["terms"] = {"by_category": {}, "by_cell": {}, "negative_by_category": {}, "negative": []}

    def quote(it: Item, heads: Sequence[str]) -> dict[str, Any]:
        return {"text": _clip(mask(it.text), quote_chars), "confidence": round(min(it.confidence.get(h, 0.0) for h in heads), 3),
                "sentiment": it.sentiment, "urgency": it.urgency, "level": it.level}

    def distinct(ranked: Iterable[Item], heads: Sequence[str]) -> list[dict[str, Any]]:
        picked, seen = [], set()
        for it in ranked:
            q = quote(it, heads)
            if q["text"] and q["text"] not in seen:
                seen.add(q["text"])
                picked.append(q)
            if len(picked) == quotes:
                break
        return picked

    def typical(group: list[Item], heads: Sequence[str], terms: dict[str, float]) -> list[dict[str, Any]]:
        """Texts that say what the group is about: the most of its characteristic terms (c-TF-IDF weight
        of their distinct words, per square root of their number), confidently labelled, and not a bare
        question of a few characters (those came first when quotes were ranked by confidence alone)."""
        def key(it: Item) -> tuple:
            ws = set(of.get(id(it), ()))
            content = sum(terms.get(w, 0.0) for w in ws) / (len(ws) ** 0.5) if ws else 0.0
            confident = min(it.confidence.get(h, 0.0) for h in heads)
            return (len(it.text.strip()) >= MIN_QUOTE_CHARS, content * (0.5 + confident), confident)
        return distinct(sorted(group, key=key, reverse=True), heads)

    def severe(group: list[Item]) -> list[dict[str, Any]]:
        """Negative texts that need an answer first: highest priority level, high urgency, most surely negative."""
        negative = [it for it in group if it.sentiment == "negative"]
        rank = {level: i for i, level in enumerate(LEVELS)}
        order = {u: i for i, u in enumerate(LABELS["urgency"])}
        return distinct(sorted(negative, key=lambda it: (rank.get(it.level, len(rank)), order.get(it.urgency, 9),
                                                           -it.confidence.get("sentiment", 0.0))), ["sentiment"])

    out["quotes"] = {
        "by_category": {c: typical(g, ["category"], weights.get(c, {})) for c, g in by_category.items()},
        "severe_by_category": {c: severe(g) for c, g in by_category.items()},
        "by_cell": {q: typical(g, HEADS, weights.get(q, {})) for q, g in by_cell.items()},
    }
    return out


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _trend(items: Sequence[Item]) -> dict[str, Any]:
    dated = [it for it in items if it.received is not None]
    if not dated:
        return {"unit": None, "buckets": [], "undated": len(items)}
    unit = bucket_unit(min(it.received for it in dated), max(it.received for it in dated))
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in dated:
        groups[bucket_of(it.received, unit)].append(it)
    buckets = [{
        "bucket": key, "volume": len(g),
        "negative_share": _share(sum(it.sentiment == "negative" for it in g), len(g)),
        "p1_p2_share": _share(sum(it.level in URGENT_LEVELS for it in g), len(g)),
        # per category: how many, and how many of them negative (the trend an analyst asks for first)
        "categories": {c: sum(it.category == c for it in g) for c in CATEGORY},
        "negative_by_category": {c: sum(it.category == c and it.sentiment == "negative" for it in g) for c in CATEGORY},
    } for key, g in sorted(groups.items())]
    return {"unit": unit, "buckets": buckets, "undated": len(items) - len(dated)}


def _segments(items: Sequence[Item], limit: int) -> dict[str, Any]:
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        if it.segment is not None:
            groups[it.segment].append(it)
    if not groups:
        return {"rows": [], "others": 0}
    ranked = sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    rows = [{
        "segment": name, "volume": len(g),
        "category_share": {c: _share(sum(it.category == c for it in g), len(g)) for c in CATEGORY},
        "negative_share": _share(sum(it.sentiment == "negative" for it in g), len(g)),
        "p1_p2_share": _share(sum(it.level in URGENT_LEVELS for it in g), len(g)),
        "review_share": _share(sum(it.needs_review for it in g), len(g)),
    } for name, g in ranked[:limit]]
    return {"rows": rows, "others": sum(len(g) for _, g in ranked[limit:])}
