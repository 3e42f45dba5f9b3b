"""``create_app``: the FastAPI application.

Start-up (lifespan) loads rules, migrates the database, loads the model and starts the batcher;
shutdown finishes queued predictions before closing (uvicorn has stopped accepting by then and
waits for in-flight requests, so SIGTERM is graceful). SIGHUP reloads the model bundle without a
restart, as POST /v1/admin/reload does (serving/inference/slot.py).
"""
from __future__ import annotations

import asyncio
import logging
import signal
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from contextlib import asynccontextmanager, suppress
from functools import partial
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

import classifier
from serving import calendar_watch
from serving.http import handlers
from serving.http.errors import ReloadFailed, ReloadInProgress
from serving.http.metrics import Metrics
from serving.http.middleware import TriageMiddleware
from serving.classify import routes as classify
from serving.http import docs, templates
from serving.insights import matrix_routes as matrix, routes as insights
from serving.ops import admin, health, keys, prometheus
from serving.review import figures as review_figures, item_routes as items, page_routes as pages, queue_routes as review, store as review_store
from serving.services import BoundedProbe, Services
from serving.webhooks import routes as webhooks, worker as webhook_worker
from serving.settings import Settings, get_settings

DESCRIPTION = """
Classifies Chinese customer feedback of financial institutions: category (product_service, fees,
contract_legal, other), sentiment and urgency with calibrated confidences; places it in the
urgent × important priority matrix with Chinese working-day deadlines; routes it to a queue; flags
low-confidence items for human review.

**Authentication**: API keys (`triage keys create --role ingest|supervisor|admin`), sent as
`Authorization: Bearer KEY` or `X-API-Key: KEY`.

**Errors** always have the body `{"error": {"code", "message", "details"}}` with a stable code.
"""


def create_app(settings: Settings | None = None, *, classifier_override: Any = None) -> FastAPI:
    """Build the app. ``classifier_override`` replaces the bundle's classifier (tests, benchmarks)."""
    settings = settings or get_settings()
    app_metrics = Metrics()
    explainer = items.make_explainer(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        services = await run_in_threadpool(Services.start, settings, app_metrics, classifier_override)
        app.state.services = services
        # Reviewer figures for /metrics: the last 24 h, read at most once a minute and never holding a
        # scrape longer than the database timeout (serving/review/figures.py).
        app_metrics.reviewer_figures = BoundedProbe(Every(60.0, partial(recent_figures, services)),
                                                    timeout=min(1.0, settings.db_timeout_seconds))
        unhook = reload_on_signal(services, asyncio.get_running_loop()) if settings.reload_on_sighup else None
        # The working-day calendar: warn now, and daily, while holiday data runs out within the window.
        calendar_watch.check(services.matrix, settings.calendar_window_days)
        calendar_task = asyncio.create_task(calendar_watch.watch(
            lambda: services.matrix, settings.calendar_window_days, settings.calendar_check_interval_seconds))
        # Queued items are explained in the background (serving/review/explain.py).
        explain_task = (asyncio.create_task(explainer.run(services, partial(review_store.newly_queued, services.sessions)))
                        if settings.explain_poll_seconds > 0 else None)
        # Webhook deliveries from the outbox (serving/webhooks/worker.py).
        webhook_task = webhook_worker.start(services) if settings.webhook_delivery else None
        try:
            yield
        finally:
            calendar_task.cancel()
            if explain_task is not None:
                explain_task.cancel()
                with suppress(asyncio.CancelledError):
                    await explain_task
            if webhook_task is not None:
                webhook_task.cancel()
                with suppress(asyncio.CancelledError):
                    await webhook_task
            if unhook:
                unhook()
            app.state.services = None
            await services.limiter.aclose()
            await run_in_threadpool(services.close)

    app = FastAPI(
        title="feedback-triage",
        version=classifier.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served from the package's own assets, no CDN (serving/http/docs.py)
        redoc_url=None,
    )
    app.state.services = None
    app.state.explainer = explainer
    app.add_middleware(TriageMiddleware, metrics=app_metrics, max_body_bytes=settings.max_body_bytes,
                       request_timeout=settings.request_timeout_seconds, db_timeout=settings.db_timeout_seconds,
                       hsts_seconds=settings.hsts_seconds)
    handlers.install(app)
    app.include_router(classify.build_router(settings))
    app.include_router(matrix.router)
    app.include_router(review.router)
    app.include_router(items.build_router(settings, explainer))
    app.include_router(pages.router)
    app.include_router(matrix.page_router)
    app.include_router(insights.router)
    app.include_router(health.router)
    app.include_router(prometheus.build_router(settings))
    docs.install(app)
    templates.install(app)
    app.include_router(admin.router)
    app.include_router(keys.router)
    app.include_router(webhooks.router)
    return app


def recent_figures(services: Services) -> dict:
    end = datetime.now(timezone.utc).replace(tzinfo=None)
    return review_figures.reviewer_figures(services.sessions, end - timedelta(hours=24), end)


class Every:
    """``read()`` again only when the last answer is older than ``seconds`` (thread-safe enough for
    one scraper: two at once may both read)."""

    def __init__(self, seconds: float, read: Any):
        self.seconds, self.read = seconds, read
        self._value: Any = None
        self._at = float("-inf")

    def __call__(self) -> Any:
        now = time.monotonic()
        if now - self._at >= self.seconds:
            self._value, self._at = self.read(), now
        return self._value


def reload_on_signal(services: Services, loop: asyncio.AbstractEventLoop):
    """SIGHUP reloads the model (as POST /v1/admin/reload does), off the event loop.

    Only where the app runs in the main thread (``triage serve``; not a test client); returns a
    function that removes the handler, or None. A failure is logged with its cause and counted
    (triage_model_reloads{trigger="sighup",result="failed"}); the old model keeps serving."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return None

    def reload() -> None:
        try:
            services.model.reload(trigger="sighup")
        except (ReloadFailed, ReloadInProgress) as exc:
            logging.getLogger("triage.model").warning("SIGHUP reload not done: %s", exc)

    def on_hup() -> None:
        loop.run_in_executor(None, reload)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (NotImplementedError, RuntimeError, ValueError):
        return None
    return lambda: loop.remove_signal_handler(signal.SIGHUP)


def serve_app() -> FastAPI:
    """Factory for ``triage serve`` (uvicorn ``factory=True``): also configures JSON logging,
    which must happen inside each worker process."""
    from serving.http.logs import configure_logging

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    # Model workers drop the GIL inside ONNX Runtime and need it back for a moment afterwards;
    # with CPython's default 5 ms switch interval they wait for the event loop's thread that long,
    # leaving cores idle under load (bench/bench_serving.py: +25% items/s at 0.2 ms on 2 cores).
    sys.setswitchinterval(settings.switch_interval_ms / 1000.0)
    return create_app(settings)
