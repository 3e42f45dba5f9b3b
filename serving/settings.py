"""The service's one configuration object, read from the environment (prefix ``TRIAGE_``).

``DATABASE_URL`` is also read without the prefix because that is what hosting platforms and
the ``triage keys`` CLI set; both names map to :attr:`Settings.database_url`.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from classifier.resources import default_bundle, default_guideline, default_priority_config, default_routing_config
from classifier.runtime import available_cores


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", populate_by_name=True)

    # --- model and rules ------------------------------------------------------------------
    # The shipped files (classifier/resources.py); the TRIAGE_* variables are read here, by pydantic.
    bundle_dir: Path = default_bundle(env=False)
    priority_config: Path = default_priority_config(env=False)
    routing_config: Path = default_routing_config(env=False)

    # --- persistence ----------------------------------------------------------------------
    database_url: str = Field(
        "sqlite:///./triage.db", validation_alias=AliasChoices("DATABASE_URL", "TRIAGE_DATABASE_URL")
    )
    # Apply Alembic migrations when the app starts (the `triage keys` CLI always does).
    migrate_on_start: bool = True

    # --- request limits (one error code each, see serving/http/errors.py) ----------------------
    max_text_chars: int = Field(5000, ge=1)
    max_batch_items: int = Field(256, ge=1)
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)
    max_id_chars: int = Field(128, ge=1)
    max_metadata_keys: int = Field(32, ge=0)
    max_metadata_value_chars: int = Field(256, ge=1)

    # --- API keys and rate limiting -------------------------------------------------------
    # Per key token bucket: `rate_limit_per_minute` requests refill per minute, bursts up to
    # `rate_limit_burst`. 0 disables rate limiting.
    rate_limit_per_minute: float = Field(600.0, ge=0)
    rate_limit_burst: int = Field(60, ge=1)
    # Looked-up keys are cached this long; a revocation takes effect within it.
    auth_cache_seconds: float = Field(10.0, ge=0)
    # /metrics is usually scraped from inside the network without credentials.
    metrics_require_auth: bool = False

    # --- micro-batching -------------------------------------------------------------------
    batch_max_size: int = Field(64, ge=1)
    # How long a model worker waits for more items once it holds one. 0: take what is queued and
    # go. Under load the queue refills while the workers are busy, so batches form anyway; a timed
    # wait only idles a core and adds GIL hand-offs (bench/bench_serving.py, 16 clients on 2 cores:
    # 180 items/s at 0 ms, 160 at 2 ms, 153 at 5 ms; single-request p50 12.5 ms vs 15 ms at 2 ms).
    batch_max_wait_ms: float = Field(0.0, ge=0)
    # Items waiting for the model beyond this are refused with 503 + Retry-After (back-pressure).
    batch_max_queue_items: int = Field(8192, ge=1)
    # Model worker threads per process, and ONNX Runtime intra-op threads per call. 0 = automatic:
    # one single-threaded worker per CPU core available to this process (see serving/inference/batcher.py).
    # One worker with all cores gives the lowest single-request latency on an idle service.
    model_workers: int = Field(0, ge=0)
    model_threads: int = Field(0, ge=0)
    # A model call that starts while no other is running uses all of this process's cores (a
    # second ONNX Runtime session, the model's weights once more in memory; classifier/runtime.py):
    # the idle service answers a single item as fast as one multi-threaded worker would, and under
    # load the narrow workers run as before. false: always the narrow session.
    model_solo_session: bool = True
    # Set by `triage serve --workers N` so that N processes split the cores instead of each taking all.
    server_processes: int = Field(1, ge=1)
    # CPython's GIL switch interval for `triage serve` (default 5 ms); see serving/app.py:serve_app.
    switch_interval_ms: float = Field(0.2, gt=0, le=100)

    # --- supervisor workspace (serving/review/) ----------------------------------------------
    # A claim (taken on a supervisor's first action on an item) keeps it from others this long; the
    # page renews it every third of this while the item stays open and releases it on leaving, so
    # a closed tab or a crash holds an item at most this long.
    claim_lease_seconds: float = Field(90.0, gt=0, le=86400)
    # Occlusion explanations: at most this many content words are occluded (longer texts are
    # occluded in groups of adjacent words), and this many explanations are kept in memory.
    explain_max_segments: int = Field(24, ge=1, le=512)
    explain_cache_items: int = Field(2048, ge=0)
    # ... and fewer, coarser units for a long text, so that its occluded copies add up to about this
    # many characters: an item's explanation costs the same whatever its length (0: no such bound).
    explain_budget_chars: int = Field(600, ge=0)
    # Queued items are explained in the background, shortly after they are stored: new pending rows
    # are looked for this often (0: only on request), at most explain_backlog_items at a time.
    explain_poll_seconds: float = Field(1.0, ge=0, le=3600)
    explain_backlog_items: int = Field(256, ge=1, le=100_000)
    # Explanations are also kept in the database with their item (a restart or another process
    # reads them back instead of computing them again).
    explain_persist: bool = True
    # Kept explanations of a model version the service no longer serves are never read again: the
    # background task deletes them once this old (a rolling deploy serves two versions meanwhile).
    explain_stale_days: float = Field(7.0, gt=0)
    # The labelling guideline the review page links to (served at /guideline).
    guideline_path: Path = Field(default_factory=default_guideline)

    # --- working-day calendar (classifier/calendar.py, serving/calendar_watch.py) ----------------
    # The holiday data must reach this many days past today; when it does not, a warning at start
    # and every calendar_check_interval_seconds, and /readyz says so (the service stays ready).
    calendar_window_days: int = Field(60, ge=0, le=3660)
    calendar_check_interval_seconds: float = Field(86400.0, gt=0)

    # --- hardening (issue 13; see README "Timeouts, retries and safety") -------------------
    # Connect, statement, lock and pool-checkout timeout for the database; a request whose
    # database work takes longer gets 503 E522 with Retry-After, also when the server is frozen.
    db_timeout_seconds: float = Field(5.0, gt=0, le=300)
    # /readyz says "not ready" only once the database has been unreachable this long: a short blip
    # must not take every pod out of the Service at once (each would answer 503 E522 for database
    # work either way, but classify-only callers keep working). 0: not ready at the first failure.
    ready_database_grace_seconds: float = Field(30.0, ge=0, le=3600)
    # Per-request deadline: a request not answered in time gets 504 E526 (its queued model work
    # is dropped). Responses already started are not cut.
    request_timeout_seconds: float = Field(30.0, gt=0, le=3600)
    # Idempotency-Key on POST /v1/classify: a retry within this window returns the stored response.
    idempotency_window_seconds: float = Field(24 * 3600.0, ge=1)
    # A classify item whose caller `id` this API key sent within this window, without an
    # Idempotency-Key, is answered with the stored result ("deduplicated": true) and not stored
    # again: for ticket systems that resend without a key. 0: off (every request is stored).
    dedup_item_id_seconds: float = Field(0.0, ge=0, le=366 * 86400)
    # Large requests go to the model in parts of this many items, taken in turn with other API
    # keys' requests, so one big batch cannot starve small ones.
    fair_chunk_items: int = Field(16, ge=1)
    # Items one API key may have waiting for the model at once (429 E527 beyond). 0: no cap.
    max_items_in_flight_per_key: int = Field(1024, ge=0)
    # Requests with a wrong or revoked key allowed per client address per minute (429 E528 beyond).
    invalid_key_attempts_per_minute: float = Field(30.0, ge=0)
    # Where /metrics answers without a key: client addresses (exact, or "loopback"). Empty: always
    # needs a key, like TRIAGE_METRICS_REQUIRE_AUTH=true.
    metrics_allow_from: str = "loopback"

    # --- webhooks (serving/webhooks/, docs/integrators.md "Webhooks") -------------------------------
    # Deliver the outbox's events to subscriptions from this process (every replica may: a lease per
    # subscription keeps one sender at a time). false: events are still recorded, another process sends.
    webhook_delivery: bool = True
    # How often the worker looks for new events and due retries.
    webhook_poll_seconds: float = Field(1.0, gt=0, le=60)
    # One attempt: connect, send and the receiver's answer (a receiver should answer 2xx at once and
    # work afterwards). Longer counts as a failed attempt.
    webhook_timeout_seconds: float = Field(10.0, gt=0, le=120)
    # Retries after a failed attempt wait base x 2^(attempt-1), at most the cap, times a random factor
    # in [0.5, 1] (jitter), and go on for the retry window (3 days, as Stripe's): then the event is
    # marked failed (the delivery log keeps every attempt) and the subscription's next event goes.
    webhook_backoff_base_seconds: float = Field(10.0, gt=0)
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0)
    webhook_retry_window_seconds: float = Field(3 * 86400.0, gt=0)
    # How often pending items past their first-response deadline are looked for (item.deadline_missed).
    webhook_deadline_check_seconds: float = Field(60.0, gt=0)
    # Finished deliveries, their attempts and sent events are deleted after this many days.
    webhook_retention_days: float = Field(30.0, gt=0)

    # --- TLS terminated by the service itself (usually a proxy or ingress does it) ----------------
    # A PEM certificate chain and its key: `triage serve` answers HTTPS on its port.
    tls_certfile: Optional[Path] = None
    tls_keyfile: Optional[Path] = None
    # Strict-Transport-Security: max-age=N on every response (0: not sent). Only where clients reach
    # the service over HTTPS, through its own TLS or a proxy that does not set the header itself.
    hsts_seconds: int = Field(0, ge=0, le=2 * 365 * 86400)

    # --- logging --------------------------------------------------------------------------
    log_level: str = "INFO"
    log_json: bool = True

    # --- `triage serve` (flags override; the Docker image sets TRIAGE_HOST=0.0.0.0) ------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)

    # --- shared rate limits (serving/security/ratelimit.py) ------------------------------------------
    # Empty: per-process token buckets in memory. A redis:// URL: one bucket per key shared by
    # every process and replica using that Redis (and this prefix).
    rate_limit_redis_url: str = ""
    rate_limit_redis_prefix: str = "triage:ratelimit:"
    # A Redis that does not answer within this long lets the request through (fail open, counted
    # in triage_ratelimit_backend_errors): rate limiting must not take the service down with it.
    rate_limit_redis_timeout_s: float = Field(0.25, gt=0)

    # --- hot reload and shadow model (serving/inference/slot.py) --------------------------------
    # SIGHUP reloads the bundle from bundle_dir (as POST /v1/admin/reload does).
    reload_on_sighup: bool = True
    # Directories (separated by ':', as PATH) under which POST /v1/admin/reload may load a bundle.
    # Empty: the directory holding bundle_dir.
    model_roots: str = ""
    # A second bundle that scores the same traffic off the hot path; agreement per head and the
    # review share of both are exported as metrics (triage_shadow_*). Unset: no shadow.
    shadow_bundle: Optional[Path] = None
    # Share of model batches also sent to the shadow (1.0: all), and how many items may wait for
    # it before further batches are skipped (counted, never slowing the primary).
    shadow_sample_rate: float = Field(1.0, ge=0, le=1)
    shadow_max_queue_items: int = Field(2048, ge=1)

    @field_validator("shadow_bundle", "tls_certfile", "tls_keyfile", mode="before")
    @classmethod
    def _empty_is_none(cls, value):  # TRIAGE_SHADOW_BUNDLE= (set but empty) means no shadow, and so on
        return None if value == "" else value


def model_roots(settings: Settings) -> list[Path]:
    """TRIAGE_MODEL_ROOTS as paths; the directory holding the configured bundle when it is empty."""
    roots = [Path(part) for part in settings.model_roots.split(os.pathsep) if part.strip()]
    return roots or [settings.bundle_dir.resolve().parent]


def model_parallelism(settings: Settings, cores: int | None = None) -> tuple[int, int]:
    """``(workers, threads per worker)`` for this process from the settings and the CPU."""
    share = max(1, (cores or available_cores()) // settings.server_processes)
    workers = settings.model_workers or min(share, 8)
    threads = settings.model_threads or max(1, share // workers)
    return workers, threads


def solo_threads(settings: Settings, cores: int | None = None) -> int:
    """ONNX threads of the Classifier's solo session (0: none), see ``model_solo_session``."""
    share = max(1, (cores or available_cores()) // settings.server_processes)
    _workers, threads = model_parallelism(settings, cores)
    return share if settings.model_solo_session and share > threads else 0


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, read once per process."""
    return Settings()
