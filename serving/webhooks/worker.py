"""The delivery worker: an asyncio task of the service (started in the app's lifespan, serving/app.py).

Every TRIAGE_WEBHOOK_POLL_SECONDS it reports newly overdue items (deadlines.py), fans new outbox events
out to subscriptions and sends each due subscription's queue in order (delivery.py), several
subscriptions at once. Database steps run in threads; requests go out through one ``httpx.AsyncClient``
(no redirects followed: a 3xx is a failed attempt, as with Stripe). Stopping the service cancels an
attempt under way: it was not logged, so it is sent again later with the same event id (at least once).
A database that does not answer only delays deliveries: the loop logs and tries again.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx

import classifier
from serving.webhooks import deadlines, delivery, signing

log = logging.getLogger("triage.webhooks")

# Subscriptions served at once by one process, and events sent to one subscription per round
# (then the others get their turn).
CONCURRENT_SUBSCRIPTIONS = 8
EVENTS_PER_ROUND = 100
PRUNE_EVERY_SECONDS = 3600.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


class DeliveryWorker:
    def __init__(self, services: Any, transport: httpx.AsyncBaseTransport | None = None):
        s = services.settings
        self.sessions = services.sessions
        self.metrics = services.metrics
        self.tz = services.matrix.tz
        self.poll = s.webhook_poll_seconds
        self.timeout = s.webhook_timeout_seconds
        self.base, self.cap = s.webhook_backoff_base_seconds, s.webhook_backoff_max_seconds
        self.window = timedelta(seconds=s.webhook_retry_window_seconds)
        self.deadline_every = s.webhook_deadline_check_seconds
        self.retention = timedelta(days=s.webhook_retention_days)
        # A lease outlives one attempt (bounded by the timeout) and the database steps around it; renewed
        # after every attempt. A killed process's subscriptions resume once it runs out (30 s by default).
        self.lease = timedelta(seconds=2 * self.timeout + 2 * s.db_timeout_seconds)
        self.owner = f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.transport = transport
        self._next_deadline_scan = 0.0
        self._next_prune = 0.0
        self._rng = random.Random()

    async def run(self) -> None:
        limits = httpx.Limits(max_connections=CONCURRENT_SUBSCRIPTIONS * 2, max_keepalive_connections=CONCURRENT_SUBSCRIPTIONS)
        headers = {"User-Agent": f"feedback-triage-webhooks/{classifier.__version__}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=self.timeout, follow_redirects=False, limits=limits, headers=headers,
                                     transport=self.transport, trust_env=False) as client:
            try:
                while True:
                    try:
                        await self.tick(client)
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - database away: try again next round
                        log.warning("webhook round failed: %s: %s", type(exc).__name__, str(exc)[:200])
                    await asyncio.sleep(self.poll)
            finally:
                try:  # let another process (or the next start) take over at once
                    await asyncio.shield(asyncio.to_thread(delivery.release, self.sessions, self.owner))
                except Exception:  # noqa: BLE001 - the leases run out by themselves
                    pass

    async def tick(self, client: httpx.AsyncClient) -> None:
        """One round: overdue items, fan-out, then every due subscription."""
        clock = time.monotonic()
        if clock >= self._next_deadline_scan:
            self._next_deadline_scan = clock + self.deadline_every
            n = await asyncio.to_thread(deadlines.scan, self.sessions, utcnow(), self.tz)
            if n:
                log.info("items past their first-response deadline reported", extra={"items": n})
        while await asyncio.to_thread(delivery.fan_out, self.sessions, utcnow()) >= 500:
            pass
        subs = await asyncio.to_thread(delivery.due_subscriptions, self.sessions, utcnow())
        gate = asyncio.Semaphore(CONCURRENT_SUBSCRIPTIONS)

        async def serve(sub_id: int) -> None:
            async with gate:
                await self.serve_subscription(client, sub_id)

        # Every subscription's turn ends before the next round (a lease is per process, not per task).
        for sub_id, outcome in zip(subs, await asyncio.gather(*(serve(s) for s in subs), return_exceptions=True)):
            if isinstance(outcome, Exception):
                log.warning("webhook deliveries to subscription %s stopped this round: %s", sub_id, type(outcome).__name__)
        if clock >= self._next_prune:
            self._next_prune = clock + PRUNE_EVERY_SECONDS
            await asyncio.to_thread(delivery.prune, self.sessions, utcnow() - self.retention)

    async def serve_subscription(self, client: httpx.AsyncClient, sub_id: int) -> None:
        now = utcnow()
        if not await asyncio.to_thread(delivery.claim, self.sessions, sub_id, self.owner, now, now + self.lease):
            return  # another process is sending to it
        for _ in range(EVENTS_PER_ROUND):
            job = await asyncio.to_thread(delivery.head, self.sessions, sub_id, utcnow())
            if job is None or await self.attempt(client, job) != "delivered":
                return

    async def attempt(self, client: httpx.AsyncClient, job: delivery.Job) -> str:
        body = job.body.encode()
        number = job.attempts + 1
        headers = {signing.HEADER: signing.header(job.secret, body, previous=job.previous_secret),
                   signing.EVENT_ID_HEADER: job.event_id,
                   signing.EVENT_TYPE_HEADER: job.type, signing.ATTEMPT_HEADER: str(number)}
        started, clock = utcnow(), time.monotonic()
        status, error = None, None
        try:
            # httpx's timeout is per read; the whole attempt is bounded too (a receiver trickling bytes).
            response = await asyncio.wait_for(client.post(job.url, content=body, headers=headers), self.timeout)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except (httpx.TimeoutException, asyncio.TimeoutError):
            error = f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        seconds = time.monotonic() - clock
        ok = error is None
        now = utcnow()
        next_at = None
        if not ok and now - job.event_created_at < self.window:
            next_at = now + timedelta(seconds=delivery.backoff(number, self.base, self.cap, self._rng))
        outcome = await asyncio.to_thread(
            delivery.record, self.sessions, job, self.owner, started=started, duration_ms=seconds * 1000,
            status_code=status, error=error, ok=ok, next_at=next_at, lease_until=now + self.lease,
            give_up_before=now - self.window)
        if outcome:
            self.metrics.webhook_deliveries.labels(outcome).inc()
            self.metrics.webhook_attempt_duration.observe(seconds)
        if not ok:
            log.info("webhook attempt failed", extra={"event_id": job.event_id, "subscription": job.subscription_id,
                                                      "attempt": number, "error": error, "outcome": outcome})
        return outcome


def start(services: Any) -> asyncio.Task:
    """The worker as a task of the running loop (cancel it to stop)."""
    return asyncio.create_task(DeliveryWorker(services).run(), name="triage-webhooks")
