"""Everything a request needs, built once at start-up and closed at shutdown.

Start-up fails loudly (with the E1xx/E3xx message) on a bad bundle or rule file: a service
that cannot classify or route correctly must not report ready.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future
from functools import partial
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from classifier.errors import TriageError
from classifier.priority import PriorityMatrix
from classifier.routing import Router
from serving import calendar_watch
from serving.db import engine as db
from serving.http import idempotency
from serving.db import outbox, store
from serving.security.auth import KeyStore
from serving.inference.batcher import MicroBatcher
from serving.db.sorting import resort_pending
from serving.security.keyguard import InvalidKeyGuard
from serving.http.metrics import Metrics
from serving.inference.slot import ModelSlot, ShadowScorer
from serving.security.ratelimit import RateLimiter, make_limiter
from serving.settings import Settings, model_parallelism, model_roots, solo_threads

log = logging.getLogger("triage.services")


@dataclass
class Services:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    model: ModelSlot  # the serving classifier (hot-swappable) and the shadow, if any
    batcher: MicroBatcher
    writer: MicroBatcher  # group commit: the rows of concurrent requests share one transaction
    matrix: PriorityMatrix
    router: Router
    keys: KeyStore
    limiter: RateLimiter  # or serving.security.ratelimit.RedisRateLimiter, same interface
    metrics: Metrics
    # Per client address: requests with a wrong or revoked key (429 E528 beyond the limit).
    invalid_keys: InvalidKeyGuard | None = None
    # When /readyz first found the database unreachable in the outage now going on (time.monotonic()),
    # None while it answers: readiness waits ready_database_grace_seconds before it drops the pod.
    database_unreachable_since: float | None = None

    @property
    def classifier(self) -> Any:
        """The classifier serving now (classifier.runtime.Classifier or a stand-in)."""
        return self.model.current

    @property
    def model_version(self) -> str:
        return self.model.model_version

    @classmethod
    def start(cls, settings: Settings, metrics: Metrics, classifier: Any = None) -> "Services":
        matrix = PriorityMatrix.from_yaml(settings.priority_config)
        router = Router.from_yaml(settings.routing_config)

        engine = db.make_engine(settings.database_url, timeout=settings.db_timeout_seconds)
        if settings.migrate_on_start:
            db.migrate(engine)
        sessions = db.make_sessionmaker(engine)
        _resort(sessions, matrix)

        workers, threads = model_parallelism(settings)
        solo = solo_threads(settings)

        def load(path: Path, threads: int = threads, solo: int = solo) -> Any:
            from classifier.runtime import Classifier  # imported here: loads onnxruntime

            model = Classifier.load(path, threads=threads, batch_size=settings.batch_max_size, solo_threads=solo)
            # First calls initialise lazily (tokenizer caches, jieba dictionaries): pay that
            # here, not in the first customer's request (and, on a reload, before the swap).
            model.predict(["预热：手机银行转账失败，年费怎么收？"])
            if solo:
                model.predict(["预热：手机银行转账失败，年费怎么收？"], solo=True)
            return model

        owned = classifier is None
        if owned:
            classifier = load(settings.bundle_dir)
        log.info("model loaded", extra={"model_version": classifier.model_version, "bundle": str(settings.bundle_dir),
                                        "model_workers": workers, "model_threads": threads,
                                        "model_solo_threads": solo})
        shadow = None
        if settings.shadow_bundle:
            try:  # one thread of its own, so it cannot take the primary's cores from it
                shadow = ShadowScorer(load(settings.shadow_bundle, threads=1, solo=0), metrics,
                                      settings.shadow_sample_rate, settings.shadow_max_queue_items)
                log.info("shadow model loaded", extra={"model_version": shadow.classifier.model_version,
                                                       "bundle": str(settings.shadow_bundle)})
            except TriageError as exc:  # an experiment must not keep the service from starting
                log.error("shadow bundle not loaded; serving without a shadow: %s", exc,
                          extra={"bundle": str(settings.shadow_bundle), "cause_code": exc.code})
        model = ModelSlot(classifier, settings.bundle_dir, load, metrics, shadow, owned=owned,
                          roots=model_roots(settings))

        batcher = MicroBatcher(
            model.predict,
            max_size=settings.batch_max_size,
            max_wait_ms=settings.batch_max_wait_ms,
            max_queue_items=settings.batch_max_queue_items,
            on_batch=lambda n, s: (metrics.batch_size.observe(n), metrics.batch_latency.observe(s)),
            on_queue=metrics.queue_items.set,
            workers=workers,
            chunk_items=settings.fair_chunk_items,
            max_items_per_client=settings.max_items_in_flight_per_key,
            # an idle service's request gets every core (serving/inference/batcher.py, classifier/runtime.py)
            process_alone=partial(_predict_alone, model, metrics) if solo else None,
        )
        writer = MicroBatcher(
            lambda rows: _save(engine, rows, settings.db_timeout_seconds, matrix.tz),
            # A request's rows are one job and never split, so one request is all or nothing.
            max_size=max(4096, settings.max_batch_items),
            max_wait_ms=0,
            max_queue_items=max(65536, settings.max_batch_items),
            name="database",
        )
        metrics.review_depth = BoundedProbe(lambda: store.review_queue_depth(sessions),
                                            timeout=min(1.0, settings.db_timeout_seconds))
        metrics.webhook_outbox = BoundedProbe(lambda: outbox.depth(sessions), timeout=min(1.0, settings.db_timeout_seconds))
        metrics.calendar_covered_until = partial(calendar_watch.covered_until_timestamp, matrix)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            model=model,
            batcher=batcher,
            writer=writer,
            matrix=matrix,
            router=router,
            keys=KeyStore(sessions, settings.auth_cache_seconds),
            limiter=make_limiter(settings, metrics),
            metrics=metrics,
            invalid_keys=InvalidKeyGuard(settings.invalid_key_attempts_per_minute),
        )

    def close(self) -> None:
        """Graceful: finish queued predictions and their writes, then release database connections."""
        self.batcher.close()
        self.model.close()
        self.writer.close()
        self.engine.dispose()


def _resort(sessions: Any, matrix: PriorityMatrix) -> None:
    """Queued items sort by the watch table of the matrix in force (a changed table or matrix, or rows
    migrated by 0006): re-derived at start. A failure (database not there yet) must not keep the
    service down: the rows then keep the order they had."""
    try:
        changed = resort_pending(sessions, matrix)
    except Exception as exc:  # noqa: BLE001 - any driver error
        log.warning("queue sort levels not re-derived: %s", type(exc).__name__)
        return
    if changed:
        log.info("queue sort levels re-derived", extra={"items": changed})


def _predict_alone(model: ModelSlot, metrics: Metrics, texts: list[str]) -> list[Any]:
    """A batch that is all the work in flight: on the model's solo session (every core)."""
    metrics.solo_batches.inc()
    return model.predict(texts, solo=True)


def _save(engine: Engine, rows: list[Any], lock_timeout: float, tz: Any = None) -> list[None]:
    """One transaction: the classification rows, their item.queued events (the webhook outbox) and any
    idempotency records among them.

    On SQLite the wait for the write lock is cut to the time left before the earliest
    ``store.WriteDeadline`` among the rows (at least 1 ms; ``lock_timeout`` without one): a
    started write either gets the lock while its requests still wait, or fails ("database is
    locked") and they are told nothing was stored (serving/classify/pipeline.py)."""
    deadlines = [r.at for r in rows if isinstance(r, store.WriteDeadline)]
    entries = [r for r in rows if isinstance(r, idempotency.Entry)]
    items = [r for r in rows if not isinstance(r, (idempotency.Entry, store.WriteDeadline))]
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # on the driver's connection: a statement here would begin SQLAlchemy's transaction
            left = min(deadlines) - time.monotonic() if deadlines else lock_timeout
            _busy_timeout(conn, left)
        try:
            with conn.begin():
                # The answer's dict of each row gets its stored id (before the idempotency record,
                # which stores the answer, is written): see serving/classify/pipeline.py.
                answers = [r.pop(store.ANSWER, None) for r in items]
                for answer, stored_id in zip(answers, store.save_classifications(engine, items, conn=conn, tz=tz)):
                    if answer is not None:
                        answer["stored_id"] = stored_id
                if entries:
                    idempotency.store(conn, entries)
        finally:
            if sqlite:
                _busy_timeout(conn, lock_timeout)
    return [None] * len(rows)


def _busy_timeout(conn: Any, seconds: float) -> None:
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout={max(1, int(seconds * 1000))}")
    finally:
        cursor.close()


class BoundedProbe:
    """A database read for /metrics that never holds a scrape longer than ``timeout``: it runs in
    its own thread; a scrape that finds it still running (frozen database) gets ``None`` (the
    gauge is left out) without starting another."""

    def __init__(self, read: Callable[[], int], timeout: float):
        self.read = read
        self.timeout = timeout
        self._running: Future | None = None
        self._lock = threading.Lock()

    def __call__(self) -> int | None:
        with self._lock:
            if self._running is None or self._running.done():
                future: Future = Future()
                self._running = future
                threading.Thread(target=self._run, args=(future,), name="triage-metrics-probe", daemon=True).start()
            future = self._running
        try:
            return future.result(timeout=self.timeout)
        except Exception:  # noqa: BLE001 - timeout or database error: no value this scrape
            return None

    def _run(self, future: Future) -> None:
        try:
            future.set_result(self.read())
        except BaseException as exc:  # noqa: BLE001
            future.set_exception(exc)
