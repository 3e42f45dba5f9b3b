"""Prometheus metrics, one registry per app (so tests can build many apps in one process).

With several uvicorn workers each process exports its own numbers; scrape them through a
per-worker port or use one worker (ONNX Runtime already uses every core inside one process).
"""
from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily

# The *_created series double the output and no dashboard here uses them.
disable_created_metrics()

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class _ReviewQueueCollector:
    """Reads the review-queue depth from the database at scrape time (it changes outside this
    process too: other workers, people reviewing)."""

    def __init__(self, metrics: "Metrics"):
        self.metrics = metrics

    def collect(self):
        source = self.metrics.review_depth
        value = source() if source is not None else None
        family = GaugeMetricFamily(
            "triage_review_queue_depth", "Stored classifications awaiting human review (needs_review, not reviewed)"
        )
        if value is not None:
            family.add_metric([], float(value))
        yield family


class _CalendarCollector:
    """The last date the working-day calendar covers, as a Unix timestamp (00:00 of that date in
    the priority matrix's time zone), read at scrape time: it moves when today's year changes or
    the config is reloaded. Alert on ``triage_calendar_covered_until - time() < 60 * 86400``."""

    def __init__(self, metrics: "Metrics"):
        self.metrics = metrics

    def collect(self):
        source = self.metrics.calendar_covered_until
        value = source() if source is not None else None
        family = GaugeMetricFamily(
            "triage_calendar_covered_until",
            "Last date the Chinese working-day calendar covers (holiday schedule known), as a Unix timestamp",
        )
        if value is not None:
            family.add_metric([], float(value))
        yield family


class _WebhookOutboxCollector:
    """The webhook outbox's depth at scrape time (serving/webhooks/): events not yet fanned out to
    subscriptions, and deliveries waiting for their turn or a retry. A depth that keeps growing is a
    receiver that is down or a worker that is not running (TRIAGE_WEBHOOK_DELIVERY)."""

    def __init__(self, metrics: "Metrics"):
        self.metrics = metrics

    def collect(self):
        source = self.metrics.webhook_outbox
        value = source() if source is not None else None
        family = GaugeMetricFamily("triage_webhook_outbox_depth", "Webhook events not yet fanned out (state=events) "
                                   "and deliveries not yet delivered (state=deliveries)", labels=["state"])
        if value is not None:
            for state, n in value.items():
                family.add_metric([state], float(n))
        yield family


class _ReviewerCollector:
    """Reviewer figures of the last 24 h (serving/review/figures.py), read at scrape time through a
    bounded, cached probe set at start-up: per reviewer (the key's name, and its prefix) and
    ``reviewer="team"``."""

    def __init__(self, metrics: "Metrics"):
        self.metrics = metrics

    def collect(self):
        source = self.metrics.reviewer_figures
        figures = source() if source is not None else None
        decisions = GaugeMetricFamily("triage_reviewer_decisions", "Decisions in the last 24 h, per reviewer",
                                      labels=["reviewer", "key"])
        pace = GaugeMetricFamily("triage_reviewer_decisions_per_active_hour", "Decisions per clock hour with a "
                                 "decision, last 24 h, per reviewer", labels=["reviewer", "key"])
        overturn = GaugeMetricFamily("triage_reviewer_overturn_ratio", "Share of decisions whose label differs from "
                                     "the model's, per reviewer, head and the model's label, last 24 h",
                                     labels=["reviewer", "key", "head", "label"])
        in_time = GaugeMetricFamily("triage_reviewer_within_deadline_ratio", "Share of first decisions made by the "
                                    "first-response deadline, last 24 h, per reviewer", labels=["reviewer", "key"])
        minutes = GaugeMetricFamily("triage_reviewer_time_to_decision_median_seconds", "Median time from receipt "
                                    "to first decision, last 24 h, per reviewer", labels=["reviewer", "key"])
        rows = []
        if figures is not None:
            rows = [("team", "", figures["team"])] + [
                (r["reviewer"]["name"] or r["reviewer"]["prefix"] or str(r["reviewer"]["key_id"]),
                 r["reviewer"]["prefix"] or "", r) for r in figures["reviewers"]]
        for name, key, f in rows:
            decisions.add_metric([name, key], f["decisions"])
            if f["decisions_per_active_hour"] is not None:
                pace.add_metric([name, key], f["decisions_per_active_hour"])
            for head, cells in f["overturn"].items():
                for label, cell in cells["by_label"].items():
                    overturn.add_metric([name, key, head, label], cell["rate"])
            t = f["time_to_decision"]
            if t["within_deadline_rate"] is not None:
                in_time.add_metric([name, key], t["within_deadline_rate"])
            if t["minutes_p50"] is not None:
                minutes.add_metric([name, key], t["minutes_p50"] * 60)
        yield from (decisions, pace, overturn, in_time, minutes)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "triage_http_requests", "HTTP requests by route template, method and status", ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "triage_http_request_duration_seconds", "HTTP request latency by route template", ["route", "method"],
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.batch_size = Histogram(
            "triage_batch_size", "Items per model call of the micro-batcher", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_latency = Histogram(
            "triage_batch_duration_seconds", "Duration of one model call of the micro-batcher",
            buckets=LATENCY_BUCKETS, registry=r,
        )
        self.request_items = Histogram(
            "triage_request_items", "Items per POST /v1/classify request", buckets=BATCH_BUCKETS, registry=r
        )
        self.predictions = Counter(
            "triage_predictions", "Predicted labels by head", ["head", "label"], registry=r
        )
        self.needs_review = Counter("triage_needs_review", "Items sent to human review (abstained)", registry=r)
        self.deduplicated_items = Counter(
            "triage_deduplicated_items", "Classify items answered from the stored result of the same caller id "
            "(TRIAGE_DEDUP_ITEM_ID_SECONDS)", registry=r)
        self.reviews = Counter("triage_reviews", "Queued items whose review was closed", registry=r)
        self.review_corrections = Counter(
            "triage_review_corrections", "Reviewed items whose label a person changed, per field", ["field"], registry=r
        )
        self.reviewed_labels = Counter(
            "triage_reviewed_labels", "Labels in force after each person's decision, per head", ["head", "label"], registry=r
        )
        self.reviewed_levels = Counter(
            "triage_reviewed_priority_level", "Priority level after each person's decision (re-run on the decided labels)",
            ["level"], registry=r
        )
        self.routes = Counter("triage_routed", "Items routed per queue", ["queue"], registry=r)
        self.priority_levels = Counter("triage_priority_level", "Items per priority level", ["level"], registry=r)
        self.calendar_uncovered = Counter(
            "triage_calendar_uncovered_deadlines", "Results whose resolution deadline counted days of a year without "
            "holiday data (approximate, calendar_uncovered)", registry=r)
        self.solo_batches = Counter("triage_model_solo_batches", "Model calls that were all the work in flight and ran "
                                    "on every core (TRIAGE_MODEL_SOLO_SESSION)", registry=r)
        self.queue_items = Gauge("triage_batch_queue_items", "Items waiting for the model", registry=r)
        self.model_info = Info("triage_model", "The loaded model bundle", registry=r)
        # hot reload and shadow model (serving/inference/slot.py)
        self.model_loaded_at = Gauge("triage_model_loaded_timestamp_seconds", "When the serving model was loaded",
                                     registry=r)
        self.model_reloads = Counter("triage_model_reloads", "Model reload attempts by trigger (api, sighup) and result",
                                     ["trigger", "result"], registry=r)
        # A gauge, not an Info: an Info reads 1 before anything is set, so a service without a shadow
        # looked as if it had one. 1 {version=…} while a shadow runs, else 0 {version=""}.
        self.shadow_info = Gauge("triage_shadow_model_info", "The shadow bundle (TRIAGE_SHADOW_BUNDLE): 1 with its "
                                 "version while one runs, else 0", ["version"], registry=r)
        self.shadow_info.labels(version="").set(0)
        self.shadow_items = Counter("triage_shadow_items", "Items scored by the shadow model", registry=r)
        self.shadow_agreements = Counter("triage_shadow_agreements", "Items whose shadow label equals the primary's, per head",
                                         ["head"], registry=r)
        self.shadow_agreement = Gauge("triage_shadow_agreement_ratio", "Share of shadow-scored items whose label equals "
                                      "the primary's, per head, since start", ["head"], registry=r)
        self.shadow_needs_review = Counter("triage_shadow_needs_review", "Shadow-scored items each model sends to review",
                                           ["model"], registry=r)
        self.shadow_review_share = Gauge("triage_shadow_review_share", "Review share on the shadow-scored items, per model",
                                         ["model"], registry=r)
        self.shadow_review_share_change = Gauge("triage_shadow_review_share_change",
                                                "Shadow review share minus primary review share on the same items",
                                                registry=r)
        self.shadow_skipped = Counter("triage_shadow_skipped_items", "Items the shadow skipped because it was behind",
                                      registry=r)
        self.shadow_errors = Counter("triage_shadow_errors", "Shadow batches that failed", registry=r)
        # explanations (serving/review/explain.py): uncached computations, background or on request
        self.explanations = Histogram(
            "triage_explanation_duration_seconds", "Time to compute one item's explanation (uncached), by trigger: "
            "queued (in the background when the item was queued) or request (opened before that)", ["trigger"],
            buckets=LATENCY_BUCKETS, registry=r)
        # shared rate limits (serving/security/ratelimit.py)
        self.ratelimit_backend_errors = Counter("triage_ratelimit_backend_errors",
                                                "Rate-limit checks let through because Redis did not answer", registry=r)
        # webhook deliveries (serving/webhooks/worker.py)
        self.webhook_deliveries = Counter(
            "triage_webhook_deliveries", "Webhook delivery attempts by outcome: delivered (2xx), retry (failed, "
            "tried again later), failed (failed and the retry window is over)", ["outcome"], registry=r)
        self.webhook_attempt_duration = Histogram(
            "triage_webhook_attempt_duration_seconds", "Duration of one webhook delivery attempt",
            buckets=LATENCY_BUCKETS, registry=r)
        # Set at start-up (the lifespan may run more than once per app, registration may not).
        self.review_depth: Callable[[], int | None] | None = None
        self.calendar_covered_until: Callable[[], float | None] | None = None
        self.webhook_outbox: Callable[[], dict[str, int] | None] | None = None
        self.reviewer_figures: Callable[[], dict | None] | None = None
        r.register(_ReviewQueueCollector(self))
        r.register(_CalendarCollector(self))
        r.register(_WebhookOutboxCollector(self))
        r.register(_ReviewerCollector(self))

    def render(self) -> bytes:
        return generate_latest(self.registry)
