"""Why the model decided: occlusion over jieba segments.

Each segment (word) of the stored text is deleted in turn and the text re-scored; a segment's
weight for a head's label is how much the label's calibrated probability drops without it. The
model sees the same masked text the reviewer reads, so the offsets point into that text. It is
computed on demand (one model call of n+1 texts through the service's micro-batcher, so it shares
the model workers with classification) and kept in a small in-memory LRU keyed by model version,
text and labels: reopening an item costs nothing, a new model version never reuses old answers.

Occlusion, not gradients: it needs nothing but the ONNX runtime the service already runs, and its
answer is directly "without this word, P(label) would be x lower".
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import Any, Awaitable, Callable, Sequence

from classifier.labels import HEADS
from serving.http.errors import ExplanationUnavailable

TOP_SEGMENTS = 3
MIN_DELTA = 0.005  # drops under half a percentage point are noise (int8 scores move ~1e-3 with the batch)


class ExplanationCache:
    """A thread-safe LRU of finished explanations."""

    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> dict[str, Any] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple, value: dict[str, Any]) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


def segments_of(text: str, max_segments: int) -> list[tuple[int, int]]:
    """``[start, end)`` spans to occlude: jieba words with a letter, digit or hanzi in them (not
    punctuation or mask stars), grouped into runs of adjacent words when there are more than
    ``max_segments``."""
    from classifier.text.segment import get_segmenter

    words = [(s, e) for w, s, e in get_segmenter().spans(text) if any(ch.isalnum() for ch in w)]
    if len(words) <= max_segments:
        return words
    per = math.ceil(len(words) / max_segments)
    return [(words[i][0], words[min(i + per, len(words)) - 1][1]) for i in range(0, len(words), per)]


Predict = Callable[[Sequence[str]], Awaitable[list[Any]]]


async def explain(predict: Predict, text: str, current: dict[str, str], *, model_version: str, max_segments: int,
                  cache: ExplanationCache) -> dict[str, Any]:
    """For each head: the model's label now and the segments that most raised its probability;
    when a reviewer's label differs from the model's, the same for the reviewer's label."""
    key = (model_version, text, tuple(current.get(h) for h in HEADS), max_segments)
    hit = cache.get(key)
    if hit is not None:
        return {**hit, "cached": True, "elapsed_ms": 0.0}
    started = time.perf_counter()
    from classifier.text.normalize import normalize_text

    # Only texts the model accepts go to the shared batcher (an empty one would fail its batch).
    if not normalize_text(text):
        raise ExplanationUnavailable("the stored text is empty after normalization: nothing to score")
    # A one-word text has nothing to occlude: its answer lists no segments (the word is the reason).
    spans = [(s, e) for s, e in segments_of(text, max_segments) if normalize_text(text[:s] + text[e:])]
    full, *occluded = await predict([text] + [text[:s] + text[e:] for s, e in spans])
    heads: dict[str, Any] = {}
    for head in HEADS:
        model_label = full.heads[head].label
        entry = _weights(full, occluded, spans, text, head, model_label)
        if current.get(head) and current[head] != model_label:
            entry["reviewed"] = _weights(full, occluded, spans, text, head, current[head])
        heads[head] = entry
    result = {
        "model_version": model_version,
        "segments": [{"text": text[s:e], "start": s, "end": e} for s, e in spans],
        "heads": heads,
        "method": "occlusion",
    }
    cache.put(key, result)
    return {**result, "cached": False, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}


def _weights(full: Any, occluded: list[Any], spans: list[tuple[int, int]], text: str, head: str, label: str
             ) -> dict[str, Any]:
    p = float(full.heads[head].scores[label])
    deltas = [p - float(o.heads[head].scores[label]) for o in occluded]
    ranked = sorted(range(len(spans)), key=lambda i: -deltas[i])
    top = [{"segment": i, "text": text[spans[i][0]:spans[i][1]], "start": spans[i][0], "end": spans[i][1],
            "delta": round(deltas[i], 4)} for i in ranked[:TOP_SEGMENTS] if deltas[i] >= MIN_DELTA]
    return {"label": label, "probability": round(p, 4), "top": top}
