"""Everything a request needs, built once at start-up and closed at shutdown.

Start-up fails loudly (with the E1xx/E3xx message) on a bad bundle or rule file: a service
that cannot classify or route correctly must not report ready.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from classifier.errors import TriageError
from classifier.priority import PriorityMatrix
from classifier.routing import Router
from serving import db, store
from serving.auth import KeyStore
from serving.batcher import MicroBatcher
from serving.metrics import Metrics
from serving.models_live import ModelSlot, ShadowScorer
from serving.ratelimit import RateLimiter, make_limiter
from serving.settings import Settings, model_parallelism

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
    limiter: RateLimiter  # or serving.ratelimit.RedisRateLimiter, same interface
    metrics: Metrics

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

        engine = db.make_engine(settings.database_url)
        if settings.migrate_on_start:
            db.migrate(engine)
        sessions = db.make_sessionmaker(engine)

        workers, threads = model_parallelism(settings)

        def load(path: Path, threads: int = threads) -> Any:
            from classifier.runtime import Classifier  # imported here: loads onnxruntime

            model = Classifier.load(path, threads=threads, batch_size=settings.batch_max_size)
            # First calls initialise lazily (tokenizer caches, jieba dictionaries): pay that
            # here, not in the first customer's request (and, on a reload, before the swap).
            model.predict(["预热：手机银行转账失败，年费怎么收？"])
            return model

        if classifier is None:
            classifier = load(settings.bundle_dir)
        log.info("model loaded", extra={"model_version": classifier.model_version, "bundle": str(settings.bundle_dir),
                                        "model_workers": workers, "model_threads": threads})
        shadow = None
        if settings.shadow_bundle:
            try:  # one thread of its own, so it cannot take the primary's cores from it
                shadow = ShadowScorer(load(settings.shadow_bundle, threads=1), metrics,
                                      settings.shadow_sample_rate, settings.shadow_max_queue_items)
                log.info("shadow model loaded", extra={"model_version": shadow.classifier.model_version,
                                                       "bundle": str(settings.shadow_bundle)})
            except TriageError as exc:  # an experiment must not keep the service from starting
                log.error("shadow bundle not loaded; serving without a shadow: %s", exc,
                          extra={"bundle": str(settings.shadow_bundle), "cause_code": exc.code})
        model = ModelSlot(classifier, settings.bundle_dir, load, metrics, shadow)

        batcher = MicroBatcher(
            model.predict,
            max_size=settings.batch_max_size,
            max_wait_ms=settings.batch_max_wait_ms,
            max_queue_items=settings.batch_max_queue_items,
            on_batch=lambda n, s: (metrics.batch_size.observe(n), metrics.batch_latency.observe(s)),
            on_queue=metrics.queue_items.set,
            workers=workers,
        )
        writer = MicroBatcher(
            lambda rows: _save(engine, rows),
            # A request's rows are one job and never split, so one request is all or nothing.
            max_size=max(4096, settings.max_batch_items),
            max_wait_ms=0,
            max_queue_items=max(65536, settings.max_batch_items),
            name="database",
        )

        def depth() -> int | None:
            try:
                return store.review_queue_depth(sessions)
            except Exception:  # noqa: BLE001 - a scrape must not fail because the DB is down
                return None

        metrics.review_depth = depth
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
        )

    def close(self) -> None:
        """Graceful: finish queued predictions and their writes, then release database connections."""
        self.batcher.close()
        self.model.close()
        self.writer.close()
        self.engine.dispose()


def _save(engine: Engine, rows: list[dict[str, Any]]) -> list[None]:
    store.save_classifications(engine, rows)
    return [None] * len(rows)
