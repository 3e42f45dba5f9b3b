"""POST /v1/classify, minus HTTP: predict (micro-batched) → priority → route → store → result.

The model call happens in the batcher's threads and the database write in the writer's thread,
which commits the rows of concurrent requests together; the per-item work done here on the event
loop (rules, dict building) is small next to the model. A response is sent only after its rows
are committed.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Any, Sequence

from sqlalchemy.exc import IntegrityError
from starlette.concurrency import run_in_threadpool

from classifier.errors import TriageError
from classifier.labels import HEADS
from serving.db import watch as dbwatch
from serving.http import idempotency
from serving.db import store
from serving.http.errors import DatabaseUnavailable
from serving.db.sorting import sort_columns
from classifier.text.pii import mask_text, mask_value
from serving.services import Services

log = logging.getLogger("triage.pipeline")


def _clean(text: str) -> str:
    # PostgreSQL text columns cannot hold NUL; normalization deletes it anyway.
    return text.replace("\x00", "")


def _head(pred: Any) -> dict[str, Any]:
    return {"label": pred.label, "confidence": float(pred.confidence), "scores": {k: float(v) for k, v in pred.scores.items()}}


async def classify(
    services: Services, items: Sequence[Any], request_id: str, key_id: int | None,
    idempotent: tuple[str, str] | None = None,
) -> dict[str, Any]:
    """The response body for validated request ``items`` (same order); results are stored first.

    ``idempotent``: ``(Idempotency-Key, body digest)``; the response is stored with the rows, and
    a retry gets the stored body back (``"_replayed": True`` is then set on the returned dict,
    not sent) — serving/http/idempotency.py."""
    if idempotent is not None and key_id is not None:
        stored = await _stored_response(services, key_id, idempotent)
        if stored is not None:
            return stored
    window = services.settings.dedup_item_id_seconds
    if idempotent is None and key_id is not None and window > 0:
        since = store.to_storage(datetime.now(timezone.utc)) - timedelta(seconds=window)
        found = await run_in_threadpool(store.stored_results, services.sessions, key_id,
                                        [_clean(item.id) for item in items], since, services.matrix.tz)
        if found:
            return await _deduplicated(services, items, found, request_id, key_id)
    return await _classify(services, items, request_id, key_id, idempotent)


async def _deduplicated(services: Services, items: Sequence[Any], found: dict[str, dict[str, Any]], request_id: str,
                        key_id: int) -> dict[str, Any]:
    """Items whose caller id was stored within the dedup window get that stored result; the others
    are classified and stored as usual; the results in request order. Best effort, unlike an
    Idempotency-Key: two requests with a new id at the same moment are both stored."""
    fresh = [item for item in items if _clean(item.id) not in found]
    versions = [r.pop("model_version") for r in found.values()]
    payload = (await _classify(services, fresh, request_id, key_id, None) if fresh
               else {"model_version": versions[0], "results": []})
    new = iter(payload["results"])
    payload["results"] = [found[_clean(item.id)] if _clean(item.id) in found else next(new) for item in items]
    services.metrics.deduplicated_items.inc(len(items) - len(fresh))
    return payload


async def _classify(services: Services, items: Sequence[Any], request_id: str, key_id: int | None,
                    idempotent: tuple[str, str] | None) -> dict[str, Any]:
    texts = [item.text for item in items]
    # Masking runs in a worker thread, alongside the model, so the request deadline
    # (serving/http/middleware.py) can fire while it runs: on the event loop it would hold every
    # request, the deadline included, until it finished. Its cost is linear and bounded per text
    # (classifier/text/pii.py).
    masking = asyncio.ensure_future(run_in_threadpool(_masked, items))
    try:
        # In parts, in turn with other keys' requests (serving/inference/batcher.py); per key in-flight cap.
        predictions = await services.batcher.process_async(texts, client=key_id)
    except BaseException:
        masking.cancel()
        raise
    versions = _versions(predictions)
    if len(versions) > 1:  # its batches straddled a model reload: score it again on one model
        predictions = await services.batcher.process_async(texts, client=key_id)
        versions = _versions(predictions)
    model_version = versions.pop() if len(versions) == 1 else services.model_version
    now = datetime.now(timezone.utc)
    metrics = services.metrics
    results, rows = [], []
    masked = await masking
    for item, pred, (text_masked, masked_meta) in zip(items, predictions, masked):
        heads = {h: _head(pred.heads[h]) for h in HEADS}
        category, sentiment, urgency = (heads[h]["label"] for h in HEADS)
        secondary = pred.category_secondary
        metadata = item.metadata or {}
        received = item.received_at or now
        priority = services.matrix.assess(category, sentiment, urgency, metadata, received)
        route = services.router.route(category, secondary, sentiment, urgency, priority.level, metadata)
        reasons = list(getattr(pred, "review_reasons", []))
        sort = (sort_columns(services.matrix, {"category": category, "sentiment": sentiment, "urgency": urgency},
                             reasons, metadata, received, priority.level)
                if pred.needs_review and reasons else {"sort_level": priority.level, "sort_reasons": ""})
        result = {
            "id": item.id,
            "stored_id": None,  # set by the writer once the row is inserted (serving/services.py:_save)
            **{h: heads[h] for h in HEADS},
            "category_secondary": secondary,
            "priority": {
                "quadrant": priority.quadrant,
                "level": priority.level,
                "urgent": priority.urgent,
                "important": priority.important,
                "respond_by": priority.respond_by.isoformat(timespec="seconds"),
                "resolve_by": priority.resolve_by.isoformat(timespec="seconds"),
                "calendar_uncovered": priority.calendar_uncovered,
            },
            "route": route.queue,
            "needs_review": bool(pred.needs_review),
            "review_reasons": list(getattr(pred, "review_reasons", [])),
            "deduplicated": False,
        }
        results.append(result)
        channel = masked_meta.get("channel")
        rows.append({
            "request_id": request_id,
            # The caller's id, as sent: an identifier, not text (masking it merged distinct ids
            # and exported ids nobody sent; docs/integrators.md says what is masked).
            "item_id": _clean(item.id),
            "api_key_id": key_id,
            "text_masked": text_masked,
            "metadata": masked_meta,  # rows are keyed by column name (store.save_classifications)
            "predictions": {**heads, "category_secondary": secondary, "review_heads": list(getattr(pred, "review_heads", [])),
                            "review_reasons": list(getattr(pred, "review_reasons", []))},
            "model_version": model_version,
            "category": category,
            "category_secondary": secondary,
            "sentiment": sentiment,
            "urgency": urgency,
            "channel": str(channel)[:256] if channel is not None else None,
            "urgent": priority.urgent,
            "important": priority.important,
            "quadrant": priority.quadrant,
            "level": priority.level,
            **sort,
            "respond_by": store.to_storage(priority.respond_by),
            "resolve_by": store.to_storage(priority.resolve_by),
            "calendar_uncovered": priority.calendar_uncovered,
            "route": route.queue,
            "needs_review": bool(pred.needs_review),
            "reviewed_at": None,
            "received_at": store.to_storage(received),
            "created_at": store.to_storage(now),
            store.ANSWER: result,
        })

    payload = {"model_version": model_version, "results": results}
    if idempotent is not None and key_id is not None:
        rows.append(idempotency.Entry(key_id, idempotent[0], idempotent[1], payload,
                                      store.to_storage(now), timedelta(seconds=services.settings.idempotency_window_seconds)))
    timeout = services.settings.db_timeout_seconds
    try:
        await _store(services, rows, timeout)
    except asyncio.TimeoutError:
        log.warning("storing %d results timed out after %.1fs", len(rows), timeout)
        raise DatabaseUnavailable("the database did not answer in time; retry later (with the same Idempotency-Key)",
                                  details={"timeout_seconds": timeout}) from None
    except Exception as exc:  # noqa: BLE001 - any driver error: the client should retry later
        if isinstance(exc, TriageError):  # the writer's queue is full or it is shutting down
            raise
        if idempotent is not None and key_id is not None and isinstance(exc, IntegrityError):
            stored = await _stored_response(services, key_id, idempotent)  # a concurrent first attempt won
            if stored is not None:
                return stored
        log.warning("storing %d results failed: %s", len(rows), type(exc).__name__)
        raise DatabaseUnavailable("could not store the results; retry later", details={"reason": type(exc).__name__}) from exc

    metrics.request_items.observe(len(items))
    for r in results:
        for h in HEADS:
            metrics.predictions.labels(h, r[h]["label"]).inc()
        metrics.routes.labels(r["route"]).inc()
        metrics.priority_levels.labels(r["priority"]["level"]).inc()
        if r["priority"]["calendar_uncovered"]:
            metrics.calendar_uncovered.inc()
        if r["needs_review"]:
            metrics.needs_review.inc()
    return payload


async def _store(services: Services, rows: list[Any], timeout: float) -> None:
    """Write ``rows`` (one job of the group-commit writer); the answer agrees with the database.

    A timeout may only fire before the write starts: a job still queued at ``timeout`` is
    cancelled (the writer never runs it) and the caller gets 503 with nothing stored. A job under
    way is waited for, and its outcome is the answer: committed is 200, whatever the clock says
    (answering 503 there left committed rows behind a 503, and a client retrying without a key
    stored them twice). The writer gives a started write only the time left to its earliest
    deadline to wait for SQLite's lock (``store.WriteDeadline``), so on SQLite the whole wait stays
    within ``timeout`` (plus the commit itself); only a server that stops answering mid-write
    (frozen PostgreSQL) can hold it longer, and that wait ends at a second ``timeout``
    (``asyncio.TimeoutError``: the outcome is then unknown, which the Idempotency-Key covers).

    The request deadline (serving/http/middleware.py) follows the same rule through
    ``dbwatch.Activity.commit``: it cancels the job if it can, else waits for it."""
    job = services.writer.submit([*rows, store.WriteDeadline(time.monotonic() + timeout)])
    activity = dbwatch.current()
    if activity is not None:
        activity.commit = job
    outcome = asyncio.wrap_future(job)
    outcome.add_done_callback(lambda f: f.cancelled() or f.exception())  # retrieved even if nobody waits
    try:
        await asyncio.wait_for(asyncio.shield(outcome), timeout)
    except asyncio.TimeoutError:
        if job.cancel():
            raise  # still queued: it will never be written
        await asyncio.wait_for(asyncio.shield(outcome), timeout)
    except asyncio.CancelledError:
        job.cancel()  # the request was given up: drop the write if it has not started
        raise


async def _stored_response(services: Services, key_id: int, idempotent: tuple[str, str]) -> dict[str, Any] | None:
    key, digest = idempotent
    since = store.to_storage(datetime.now(timezone.utc)) - timedelta(seconds=services.settings.idempotency_window_seconds)
    record = await run_in_threadpool(idempotency.find, services.sessions, key_id, key, since)
    if record is None:
        return None
    body = idempotency.replay(record, digest)
    if any("stored_id" not in r for r in body.get("results", [])):  # stored before answers carried it
        await run_in_threadpool(store.fill_stored_ids, services.sessions, key_id, record.created_at, body["results"])
    return {**body, "_replayed": True}


def _masked(items: Sequence[Any]) -> list[tuple[str, dict[str, Any]]]:
    """Per item, the text and the metadata as stored: personal data masked in the text and in
    metadata values; metadata keys kept as sent (names, not text)."""
    return [(_clean(mask_text(item.text)), _clean_value(mask_value(item.metadata or {}))) for item in items]


def _versions(predictions: Sequence[Any]) -> set[str]:
    """Versions of the models that scored ``predictions`` (serving/inference/slot.py tags them)."""
    return {v for v in (getattr(p, "model_version", None) for p in predictions) if v}


def _clean_value(value: Any) -> Any:
    if isinstance(value, str):
        return _clean(value)
    if isinstance(value, dict):
        return {_clean(k): _clean_value(v) for k, v in value.items()}
    return value
