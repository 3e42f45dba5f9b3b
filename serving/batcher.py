"""Dynamic micro-batching: items of concurrent requests share one model call.

Requests put their texts on a queue and await a future; worker threads take everything queued
(up to ``max_size`` items, waiting at most ``max_wait_ms`` for more after the first) and run a
single ``process`` call over it. Under load the queue fills while the model is busy, so batches grow by
themselves and throughput approaches the runtime's batch throughput; when idle a request waits at
most ``max_wait_ms`` (the service's default is 0: see serving/settings.py). Model calls run outside the event loop, which stays free for I/O.

Several workers (``workers``), each calling a single-threaded ONNX Runtime session, beat one worker
calling a multi-threaded session on a small CPU at every batch size: while one worker is in the
model the other forms the next batch or runs its Python pre/post-processing, and no intra-op
barrier stalls when the event loop takes a core (``bench/bench_serving.py`` measures both).

The same mechanism groups the database writes of concurrent requests into one transaction
(group commit, see serving/services.py): ``process`` is any function from a list of items to one
result per item, and a job (one request's items) is never split across calls when it fits.
"""
from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from serving.errors import NotReady, Overloaded

log = logging.getLogger("triage.batcher")

_STOP = object()


@dataclass
class _Job:
    texts: Sequence[str]
    future: Future = field(default_factory=Future)


class MicroBatcher:
    def __init__(
        self,
        process: Callable[[list[Any]], list[Any]],
        max_size: int = 64,
        max_wait_ms: float = 0.0,
        max_queue_items: int = 8192,
        on_batch: Callable[[int, float], None] | None = None,
        on_queue: Callable[[int], None] | None = None,
        workers: int = 1,
        name: str = "model",
    ):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.process = process
        self.name = name  # in thread names, log lines and the overload message
        self.max_size = max_size
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_items = max_queue_items
        self.on_batch = on_batch  # (items, seconds) after each model call, for metrics
        self.on_queue = on_queue  # queued item count after each change, for metrics
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0  # items submitted and not yet taken by the worker
        self._lock = threading.Lock()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"triage-{name}-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- request side (event loop) -----------------------------------------------------------

    async def process_async(self, texts: Sequence[str]) -> list[Any]:
        """Predictions for ``texts`` in order; big requests are split so no call exceeds max_size."""
        chunks = [texts[i:i + self.max_size] for i in range(0, len(texts), self.max_size)]
        futures = [self.submit(chunk) for chunk in chunks]
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
        return [p for chunk in results for p in chunk]

    def submit(self, texts: Sequence[str]) -> Future:
        with self._lock:
            if self._closed:
                raise NotReady("the service is shutting down")
            if self._pending + len(texts) > self.max_queue_items:
                raise Overloaded(
                    f"too many items are waiting for the {self.name}; retry shortly",
                    details={"queued_items": self._pending, "max_queue_items": self.max_queue_items},
                )
            self._pending += len(texts)
            pending = self._pending
        job = _Job(texts)
        self._queue.put(job)
        self._report_queue(pending)
        return job.future

    # --- worker thread -----------------------------------------------------------------------

    def _run(self) -> None:
        carry: _Job | None = None
        while True:
            job = carry if carry is not None else self._queue.get()
            carry = None
            if job is _STOP:
                return
            batch, size, stop = [job], len(job.texts), False
            deadline = time.monotonic() + self.max_wait
            while size < self.max_size:
                remaining = deadline - time.monotonic()
                try:
                    nxt = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                if size + len(nxt.texts) > self.max_size:
                    carry = nxt  # starts the next batch; never split a job across calls
                    break
                batch.append(nxt)
                size += len(nxt.texts)
            self._take(size)
            self._execute(batch, size)
            if stop:
                self._drain()
                return

    def _take(self, n: int) -> None:
        with self._lock:
            self._pending -= n
            pending = self._pending
        self._report_queue(pending)

    def _execute(self, batch: list[_Job], size: int) -> None:
        texts = [t for job in batch for t in job.texts]
        start = time.perf_counter()
        try:
            predictions = self.process(texts)
            if len(predictions) != len(texts):
                raise RuntimeError(f"{self.name} returned {len(predictions)} results for {len(texts)} items")
        except BaseException as exc:  # noqa: BLE001 - must reach the waiting requests
            if len(batch) > 1:
                # Isolate the failing request so one bad input does not fail its neighbours.
                for job in batch:
                    self._execute([job], len(job.texts))
                return
            # The request that receives the exception logs it with its request id and trace.
            log.warning("%s call failed for a request of %d items: %s", self.name, size, type(exc).__name__)
            self._fail(batch[0], exc)
            return
        if self.on_batch:
            self.on_batch(size, time.perf_counter() - start)
        offset = 0
        for job in batch:
            n = len(job.texts)
            if not job.future.set_running_or_notify_cancel():
                offset += n
                continue
            job.future.set_result(predictions[offset:offset + n])
            offset += n

    @staticmethod
    def _fail(job: _Job, exc: BaseException) -> None:
        if job.future.set_running_or_notify_cancel():
            job.future.set_exception(exc)

    def _drain(self) -> None:
        """Run whatever was queued before close(): accepted requests are answered, not dropped.

        Stop markers meant for the other workers are put back once the queue is empty."""
        stops = 0
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                stops += 1
                continue
            self._take(len(job.texts))
            self._execute([job], len(job.texts))
        for _ in range(stops):
            self._queue.put(_STOP)

    def _report_queue(self, pending: int) -> None:
        if self.on_queue:
            self.on_queue(pending)

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new work, finish queued work, stop the thread (graceful shutdown)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            log.warning("batcher did not finish within %.0fs", timeout)
