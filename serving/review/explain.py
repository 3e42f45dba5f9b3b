"""Why the model decided, and why an item is watched: occlusion over jieba segments.

Each content word of the stored text is deleted in turn and the text re-scored; a word's weight
for a head's label is how much the label's calibrated probability drops without it. The model sees
the same masked text the reviewer reads, so the offsets point into that text.

Fillers (stop words such as 这种, 了, 的, 我, and punctuation; classifier/text/stopwords.py) stay in
the list of segments, flagged, but are never occluded: their weight is zero by construction. They
were highlighted before (issue 25) because deleting a function word shifts a small model's scores
as much as deleting a content word does, which says nothing a reviewer can use; skipping them also
halves the model calls.

An item queued *because* a class may hold (``possible_high_urgency``, ``possible_contract_legal``)
or because a guideline rule fired (``rule:<name>``) is explained for that class too (``watched``):
the words that raise P(high) although the model predicted ``low``, and for a rule the words its
pattern matched. That is the question the reviewer has: why is this here?

Computed in the background when an item is queued (:class:`Explainer` polls new pending rows, so
the classify path knows nothing of it) through the service's micro-batcher as a client of its own
(the fair share keeps it from delaying classification), and kept in an in-memory LRU keyed by model
version, text, labels and reasons, and in the database with the item (item_explanations): opening
the item costs nothing, after a restart or in another service process too, and a new model version
never reuses old answers. Occlusion, not gradients: it needs nothing but the ONNX runtime the
service already runs, and its answer is directly "without this word, P(label) would be x lower".
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, Awaitable, Callable, Iterable, Sequence

from classifier.labels import HEADS
from classifier.priority import WatchTable
from classifier.review import REASON_ZH
from classifier.signals import signal_of
from classifier.text.normalize import normalize_text
from classifier.text.stopwords import is_filler
from serving.http.errors import ExplanationUnavailable
from serving.review import store

log = logging.getLogger("triage.explain")

TOP_SEGMENTS = 3
MIN_UNITS = 3
# The model reads at most 160 tokens, about 200 characters of Chinese: what lies beyond is not scored.
WINDOW_CHARS = 200
MIN_DELTA = 0.005  # drops under half a percentage point are noise (int8 scores move ~1e-3 with the batch)
PRUNE_EVERY_SECONDS = 3600.0
CLIENT = "explain"  # the micro-batcher's fair share counts the background explanations as one client


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

    def __len__(self) -> int:
        return len(self._items)


# --- what is occluded --------------------------------------------------------------------------


@dataclass(frozen=True)
class Word:
    start: int
    end: int
    filler: bool


def words_of(text: str) -> list[Word]:
    """jieba's words of ``text`` as given, whitespace dropped, each flagged as filler or not."""
    from classifier.text.segment import get_segmenter

    return [Word(s, e, is_filler(w)) for w, s, e in get_segmenter().spans(text)]


def units_of(words: Sequence[Word], max_units: int) -> list[tuple[tuple[int, int], ...]]:
    """What is occluded together: each content word alone, or, when there are more than
    ``max_units``, runs of consecutive content words (the fillers between them stay in the text)."""
    content = [(w.start, w.end) for w in words if not w.filler]
    if len(content) <= max_units:
        return [(span,) for span in content]
    per = math.ceil(len(content) / max_units)
    return [tuple(content[i:i + per]) for i in range(0, len(content), per)]


def units_for(length: int, max_units: int, budget_chars: int) -> int:
    """How many units a text of ``length`` characters is occluded in: ``max_units``, fewer for a
    long text so that the occluded copies add up to about ``budget_chars`` characters (0: no
    budget). The model's time grows with the characters it reads, so this bounds each item's time;
    a long text is then explained by phrases rather than words."""
    if budget_chars <= 0:
        return max_units
    return max(min(MIN_UNITS, max_units), min(max_units, budget_chars // max(1, min(length, WINDOW_CHARS))))


def segments_of(text: str, max_segments: int) -> list[tuple[int, int]]:
    """The ``[start, end)`` extent of each occlusion unit of ``text``."""
    return [(unit[0][0], unit[-1][1]) for unit in units_of(words_of(text), max_segments)]


def _without(text: str, parts: Sequence[tuple[int, int]]) -> str:
    out, at = [], 0
    for s, e in parts:
        out.append(text[at:s])
        at = e
    out.append(text[at:])
    return "".join(out)


def _unit_text(text: str, parts: Sequence[tuple[int, int]]) -> str:
    """The unit's words, with … where fillers between them were left in place."""
    out = text[parts[0][0]:parts[0][1]]
    for (_, prev_end), (s, e) in zip(parts, parts[1:]):
        out += ("" if s == prev_end else "…") + text[s:e]
    return out


# --- why watched -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Watched:
    """A class the review policy queued the item for: ``reason`` says the ``head`` may be ``label``."""

    reason: str
    head: str
    label: str


def watched_classes(reasons: Iterable[str], watch: WatchTable) -> list[Watched]:
    """The classes behind an item's watch reasons (``possible_*``, ``rule:*``; uncertainty reasons
    name no class), as the queue's risk order reads them (classifier/priority.py)."""
    out: list[Watched] = []
    for reason in reasons:
        for head, label in watch.implied(reason).items():
            out.append(Watched(reason, head, label))
    return out


def reason_zh(reason: str) -> str:
    signal = signal_of(reason)
    return signal.zh if signal else REASON_ZH.get(reason, reason)


def rule_matches(text: str, reason: str) -> list[dict[str, Any]]:
    """Where a rule's pattern matches ``text``. Patterns are written for the normalized text
    (simplified, half-width); normalizing character by character keeps a map back to the offsets
    of the text the reviewer reads."""
    signal = signal_of(reason)
    if signal is None:
        return []
    chars, origin = [], []
    for i, ch in enumerate(text):
        piece = normalize_text(ch) if not ch.isspace() else " "
        chars.append(piece)
        origin += [i] * len(piece)
    found = []
    for start, end in signal.spans("".join(chars)):
        s, e = origin[start], origin[end - 1] + 1
        found.append({"text": text[s:e], "start": s, "end": e})
    return found


# --- the explanation ---------------------------------------------------------------------------

Predict = Callable[[Sequence[str]], Awaitable[list[Any]]]


def key_digest(key: tuple) -> str:
    """The cache key as the database keeps it (sha256 of its JSON)."""
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode("utf-8")).hexdigest()


def cache_key(model_version: str, text: str, current: dict[str, Any], reasons: Sequence[str], max_segments: int,
              budget_chars: int) -> tuple:
    return (model_version, text, tuple(current.get(h) for h in HEADS), tuple(reasons), max_segments, budget_chars)


async def explain(predict: Predict, text: str, current: dict[str, str], *, model_version: str, max_segments: int,
                  cache: ExplanationCache, reasons: Sequence[str] = (), watch: WatchTable | None = None,
                  budget_chars: int = 0) -> dict[str, Any]:
    """For each head: the model's label now and the content words that most raised its probability;
    when a reviewer's label differs from the model's, the same for the reviewer's label; for each
    watched class (``reasons``), the words that most raised its probability and a rule's matches."""
    key = cache_key(model_version, text, current, reasons, max_segments, budget_chars)
    hit = cache.get(key)
    if hit is not None:
        return {**hit, "cached": True, "elapsed_ms": 0.0}
    started = time.perf_counter()
    # Only texts the model accepts go to the shared batcher (an empty one would fail its batch).
    if not normalize_text(text):
        raise ExplanationUnavailable("the stored text is empty after normalization: nothing to score")
    words = words_of(text)
    # A one-word text has nothing to occlude: its answer lists no units (the word is the reason).
    units = [u for u in units_of(words, units_for(len(text), max_segments, budget_chars))
             if normalize_text(_without(text, u))]
    full, *occluded = await predict([text] + [_without(text, u) for u in units])
    heads: dict[str, Any] = {}
    for head in HEADS:
        model_label = full.heads[head].label
        entry = _weights(full, occluded, units, text, head, model_label)
        if current.get(head) and current[head] != model_label:
            entry["reviewed"] = _weights(full, occluded, units, text, head, current[head])
        heads[head] = entry
    watched = []
    for w in watched_classes(reasons, watch or WatchTable()):
        entry = _weights(full, occluded, units, text, w.head, w.label, watched=True)
        watched.append({"reason": w.reason, "reason_zh": reason_zh(w.reason), "head": w.head, **entry,
                        "matched": rule_matches(text, w.reason)})
    unit_of = {part: i for i, unit in enumerate(units) for part in unit}
    result = {
        "model_version": model_version,
        "segments": [{"text": text[w.start:w.end], "start": w.start, "end": w.end, "filler": w.filler,
                      "unit": unit_of.get((w.start, w.end))} for w in words],
        "heads": heads,
        "watched": watched,
        "method": "occlusion",
    }
    cache.put(key, result)
    return {**result, "cached": False, "elapsed_ms": round((time.perf_counter() - started) * 1000, 1)}


def _weights(full: Any, occluded: list[Any], units: list[tuple[tuple[int, int], ...]], text: str, head: str,
             label: str, watched: bool = False) -> dict[str, Any]:
    p = float(full.heads[head].scores[label])
    deltas = [p - float(o.heads[head].scores[label]) for o in occluded]
    # A watched class is often far from predicted (P(high) = 0.1): a drop of a tenth of it is telling.
    floor = max(0.002, min(MIN_DELTA, p / 10)) if watched else MIN_DELTA
    ranked = sorted(range(len(units)), key=lambda i: -deltas[i])
    top = [{"segment": i, "text": _unit_text(text, units[i]), "start": units[i][0][0], "end": units[i][-1][1],
            "parts": [{"text": text[s:e], "start": s, "end": e} for s, e in units[i]],
            "delta": round(deltas[i], 4)} for i in ranked[:TOP_SEGMENTS] if deltas[i] >= floor]
    return {"label": label, "probability": round(p, 4), "top": top}


# --- in the background -------------------------------------------------------------------------


class Explainer:
    """The review feature's explanations: the cache the item endpoint reads, and a background task
    that explains each item the review policy queues, shortly after it is stored.

    It polls for pending rows newer than the last it saw (the classify feature is not told; several
    service processes each explain into their own cache). At start it takes the newest
    ``backlog`` pending items; one at a time, so it never holds more than one explanation's model
    calls in the batcher. A request for an item being explained waits for that computation
    instead of starting a second one."""

    def __init__(self, cache_items: int, max_segments: int, poll_seconds: float, backlog: int, budget_chars: int = 0,
                 persist: bool = True, stale_after: timedelta = timedelta(days=7)):
        self.cache = ExplanationCache(cache_items)
        self.persist = persist  # kept with the item in the database (item_explanations), read back on a miss
        self.stale_after = stale_after  # kept ones of a model version no longer served are deleted this old
        self._next_prune = 0.0
        self.max_segments = max_segments
        self.budget_chars = budget_chars
        self.poll_seconds = poll_seconds
        self.backlog = backlog
        self.last_id: int | None = None
        self.explained = 0  # by the background task (tests and /metrics read it)
        self._running: dict[tuple, asyncio.Future] = {}

    async def explain(self, services: Any, view: dict[str, Any], trigger: str = "request") -> dict[str, Any]:
        """The explanation of a stored item's view (``text``, ``labels``, ``review_reasons``)."""
        reasons = view.get("review_reasons") or []
        key = cache_key(services.model_version, view["text"], view["labels"], reasons, self.max_segments,
                        self.budget_chars)
        running = self._running.get(key)
        if running is not None:  # the background task is on it: share its answer
            result = await asyncio.shield(running)
            return {**result, "cached": True, "elapsed_ms": 0.0}
        hit = self.cache.get(key)
        if hit is not None:
            return {**hit, "cached": True, "elapsed_ms": 0.0}
        digest = key_digest(key)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._running[key] = future
        try:
            kept = await self._stored(services, view["id"], digest)
            if kept is not None:
                self.cache.put(key, kept)
                result = {**kept, "cached": True, "elapsed_ms": 0.0}
                future.set_result(result)
                return result
            result = await explain(partial(services.batcher.process_async, client=CLIENT), view["text"],
                                   view["labels"], model_version=services.model_version,
                                   max_segments=self.max_segments, cache=self.cache, reasons=reasons,
                                   watch=services.matrix.watch, budget_chars=self.budget_chars)
            if not result["cached"]:
                services.metrics.explanations.labels(trigger).observe(result["elapsed_ms"] / 1000)
                await self._save(services, view["id"], digest, result)
            future.set_result(result)
            return result
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: no "never retrieved" warning when nobody else waited
            raise
        finally:
            self._running.pop(key, None)

    async def _stored(self, services: Any, item: int, digest: str) -> dict[str, Any] | None:
        if not self.persist:
            return None
        try:
            return await asyncio.to_thread(store.stored_explanation, services.sessions, item, digest)
        except Exception as exc:  # noqa: BLE001 - the database away: compute it
            log.warning("stored explanation not read: %s", type(exc).__name__, extra={"item": item})
            return None

    async def _save(self, services: Any, item: int, digest: str, result: dict[str, Any]) -> None:
        if not self.persist:
            return
        body = {k: v for k, v in result.items() if k not in ("cached", "elapsed_ms")}
        try:
            await asyncio.to_thread(store.save_explanation, services.sessions, item, digest, result["model_version"],
                                    body, datetime.now(timezone.utc).replace(tzinfo=None))
        except Exception as exc:  # noqa: BLE001 - kept in memory all the same
            log.warning("explanation not stored: %s", type(exc).__name__, extra={"item": item})

    async def prune(self, services: Any) -> int:
        """Delete kept explanations of model versions no longer served (store.prune_explanations)."""
        try:
            gone = await asyncio.to_thread(store.prune_explanations, services.sessions, services.model_version,
                                           datetime.now(timezone.utc).replace(tzinfo=None) - self.stale_after)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - database away: the next hour's try
            log.warning("stale explanations not pruned: %s", type(exc).__name__)
            return 0
        if gone:
            log.info("pruned %d explanations of model versions no longer served", gone)
        return gone

    async def run(self, services: Any, new_items: Callable[[int | None, int], list[dict[str, Any]]]) -> None:
        """Until cancelled: explain each newly queued item. ``new_items(after_id, limit)`` reads the
        views of pending items with a larger id (blocking; run in a thread)."""
        while True:
            try:
                views = await asyncio.to_thread(new_items, self.last_id, self.backlog)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database away: try again at the next poll
                log.warning("queued items not read for explanation: %s", type(exc).__name__)
                views = []
            for view in views:
                self.last_id = max(self.last_id or 0, view["id"])
                try:
                    await self.explain(services, view, trigger="queued")
                    self.explained += 1
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - one item's failure must not stop the rest
                    log.warning("item not explained: %s", exc, extra={"item": view["id"]})
            if self.last_id is None:
                self.last_id = 0
            if self.persist and time.monotonic() >= self._next_prune:
                self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
                await self.prune(services)
            if not views:
                await asyncio.sleep(self.poll_seconds)
