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

Fairness: jobs wait in lanes, one per client (API key) and request size (requests of one part,
requests of several), and a batch takes the head job of each lane in turn, so a 256-item request
— cut into ``chunk_items`` parts — cannot hold a small request behind all of it, whoever sent
either (before, a single-item request waited 30 s behind one 256-item batch). ``max_items_per_client`` caps what one client may have waiting (429 E527).
While more than one client has work in flight (waiting, or in a model call), or had within the last
``recent_s``, a batch is one round of
deficit round-robin by items (Shreedhar & Varghese): each waiting lane earns ``quantum_items`` per
round and sends its head jobs while they fit what it has earned; what it does not spend carries over
while it keeps waiting. So a flood adds at most about one part to any batch, and a worker that finds
only the flood's lane waiting, while other clients' requests are in the other worker's call, takes
one part rather than ``max_size`` items: a newly arriving small request waits behind a short call.
One client alone (the writer's group commit included) is batched exactly as before.
A job whose request gave up (deadline, database timeout: its future is cancelled) is dropped
when its turn comes, so abandoned requests neither cost model time nor get stored late.

A batch that is all the work in flight — nothing else queued, nothing being scored or waiting to
be answered — goes to ``process_alone`` when one is given: the model then runs it on every core
(classifier/runtime.py, the solo session). That is the idle service answering one request; under
load other work is always in flight and the narrow workers keep the cores to themselves and the
event loop (measured: giving every lone *model call* all cores cost 16 clients 15 % of their
throughput, as the wide call fought the event loop for the second core).
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Sequence

from serving.http.errors import NotReady, Overloaded, TooManyItemsInFlight

log = logging.getLogger("triage.batcher")


@dataclass
class _Job:
    texts: Sequence[str]
    client: Hashable = None
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
        chunk_items: int | None = None,
        max_items_per_client: int = 0,
        process_alone: Callable[[list[Any]], list[Any]] | None = None,
        quantum_items: int | None = None,
        recent_s: float = 1.0,
    ):
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.process = process
        self.process_alone = process_alone  # for a batch that is all the work in flight (docstring)
        self.name = name  # in thread names, log lines and the overload message
        self.max_size = max_size
        self.chunk_items = min(max_size, chunk_items or max_size)
        self.quantum = quantum_items or self.chunk_items  # items a lane earns per round (docstring)
        self.max_wait = max_wait_ms / 1000.0
        self.max_queue_items = max_queue_items
        self.max_items_per_client = max_items_per_client  # 0: no cap
        self.on_batch = on_batch  # (items, seconds) after each model call, for metrics
        self.on_queue = on_queue  # queued item count after each change, for metrics
        self._lanes: OrderedDict[Hashable, deque[_Job]] = OrderedDict()  # (client, large) -> waiting jobs, in turn order
        self.recent_s = recent_s  # a client answered this recently still counts as present (_contended)
        self._answered_at: dict[Hashable, float] = {}  # client -> when its last items were answered
        self._deficit: dict[Hashable, int] = {}  # lane -> items earned and not spent (round-robin)
        self._pending = 0  # items submitted and not yet taken by a worker
        self._in_flight: dict[Hashable, int] = {}  # client -> items submitted and not yet answered
        self.alone_batches = 0  # batches given to process_alone (tests and metrics read it)
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._closed = False
        self._threads = [
            threading.Thread(target=self._run, name=f"triage-{name}-{i}", daemon=True) for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    # --- request side (event loop) -----------------------------------------------------------

    async def process_async(self, texts: Sequence[str], client: Hashable = None) -> list[Any]:
        """Predictions for ``texts`` in order; big requests are cut into parts of ``chunk_items``.
        Cancelling the await cancels the parts not yet taken by a worker."""
        size = self.chunk_items
        chunks = [texts[i:i + size] for i in range(0, len(texts), size)]
        futures = self.submit_many(chunks, client)
        results = await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
        return [p for chunk in results for p in chunk]

    def submit(self, texts: Sequence[str], client: Hashable = None) -> Future:
        return self.submit_many([texts], client)[0]

    def submit_many(self, chunks: Sequence[Sequence[str]], client: Hashable = None) -> list[Future]:
        """Queue one request's parts at once (all or none are accepted)."""
        total = sum(len(c) for c in chunks)
        with self._lock:
            if self._closed:
                raise NotReady("the service is shutting down")
            if self._pending + total > self.max_queue_items:
                raise Overloaded(
                    f"too many items are waiting for the {self.name}; retry shortly",
                    details={"queued_items": self._pending, "max_queue_items": self.max_queue_items},
                )
            held = self._in_flight.get(client, 0)
            if client is not None and self.max_items_per_client and held + total > self.max_items_per_client:
                raise TooManyItemsInFlight(
                    "this API key has too many items waiting for the model; wait for its answers",
                    details={"items_in_flight": held, "max_items_in_flight": self.max_items_per_client},
                )
            jobs = [_Job(c, client) for c in chunks]
            # A client's small requests have a lane of their own: they never wait behind its
            # large ones either (a ticket desk and a nightly backfill may share a key).
            lane_key = (client, len(chunks) > 1)
            lane = self._lanes.get(lane_key)
            if lane is None:
                lane = self._lanes[lane_key] = deque()
            lane.extend(jobs)
            self._pending += total
            self._in_flight[client] = held + total
            pending = self._pending
            self._ready.notify(len(jobs))
        for job in jobs:
            job.future.add_done_callback(lambda _f, n=len(job.texts), c=client: self._answered(c, n))
        self._report_queue(pending)
        return [job.future for job in jobs]

    def _answered(self, client: Hashable, n: int) -> None:
        with self._lock:
            left = self._in_flight.get(client, 0) - n
            if left > 0:
                self._in_flight[client] = left
            else:
                self._in_flight.pop(client, None)
                self._answered_at[client] = time.monotonic()

    # --- worker thread -----------------------------------------------------------------------

    def _contended(self) -> bool:
        """More than one client has work in flight or was answered within ``recent_s`` (lock held).
        A client that sends one request after another has nothing in flight between an answer and
        its next request; without the grace the flood would take a whole ``max_size`` call in that
        gap and the next request would wait behind it."""
        if len(self._in_flight) > 1:
            return True
        horizon = time.monotonic() - self.recent_s
        for client, at in list(self._answered_at.items()):
            if at < horizon:
                del self._answered_at[client]
        return len(self._in_flight.keys() | self._answered_at.keys()) > 1

    def _take_round(self, room: int) -> list[_Job]:
        """One round of deficit round-robin over the waiting lanes, up to ``room`` items (lock held).
        Rounds repeat only until something is taken, so a lone lane whose part exceeds its
        quantum still goes; a job larger than ``room`` is taken when the batch is empty."""
        batch: list[_Job] = []
        size = 0
        while self._lanes and not batch:
            for lane_key in list(self._lanes):
                lane = self._lanes[lane_key]
                earned = self._deficit.get(lane_key, 0) + self.quantum
                while lane:
                    job = lane[0]
                    n = len(job.texts)
                    if n > earned or (batch and size + n > room):
                        break
                    lane.popleft()
                    self._pending -= n
                    if not job.future.set_running_or_notify_cancel():
                        continue  # its request gave up: drop it, uncharged
                    batch.append(job)
                    size += n
                    earned -= n
                if lane:
                    self._deficit[lane_key] = earned
                    self._lanes.move_to_end(lane_key)
                else:  # an emptied lane keeps no credit (classic DRR)
                    del self._lanes[lane_key]
                    self._deficit.pop(lane_key, None)
                if size >= room:
                    break
        return batch

    def _take_batch(self, room: int) -> list[_Job]:
        """Head jobs of the lanes in turn, up to ``room`` items (lock held; the first job is taken
        whatever its size). A lane that gave a job goes to the back of the turn order."""
        batch: list[_Job] = []
        size = 0
        progress = True
        while progress and size < room:
            progress = False
            for lane_key in list(self._lanes):
                lane = self._lanes[lane_key]
                job = lane[0]
                if (batch or room < self.max_size) and size + len(job.texts) > room:
                    continue  # never split a job; a smaller one from another lane may still fit
                lane.popleft()
                if lane:
                    self._lanes.move_to_end(lane_key)
                else:
                    del self._lanes[lane_key]
                self._pending -= len(job.texts)
                if not job.future.set_running_or_notify_cancel():
                    continue  # its request gave up: drop it
                batch.append(job)
                size += len(job.texts)
                progress = True
                if size >= room:
                    break
        return batch

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._lanes and not self._closed:
                    self._ready.wait()
                if not self._lanes:
                    return  # closed and drained
                # While several lanes wait, batches stay small (two parts): a batch's duration is
                # what a small request waits for its turn, and the model's per-item cost hardly
                # grows from 32 to 64 items on a CPU.
                contended = self._contended()
                take = self._take_round if contended else self._take_batch
                room = self.max_size if len(self._lanes) <= 1 and not contended else min(self.max_size, 2 * self.chunk_items)
                batch = take(room)
                size = sum(len(j.texts) for j in batch)
                if self.max_wait > 0 and size < room:
                    # Wait a little for more items (off by default, see serving/settings.py).
                    deadline = time.monotonic() + self.max_wait
                    while size < room and not self._closed and (remaining := deadline - time.monotonic()) > 0:
                        self._ready.wait(remaining)
                        if self._lanes:
                            more = take(room - size)
                            batch.extend(more)
                            size += sum(len(j.texts) for j in more)
                pending = self._pending
                alone = self.process_alone is not None and size == sum(self._in_flight.values())
                if alone:
                    self.alone_batches += 1
            self._report_queue(pending)
            if batch:
                self._execute(batch, alone)

    def _execute(self, batch: list[_Job], alone: bool = False) -> None:
        """Run the jobs (already marked running) in one call; on failure, each alone."""
        size = sum(len(job.texts) for job in batch)
        texts = [t for job in batch for t in job.texts]
        start = time.perf_counter()
        try:
            predictions = (self.process_alone if alone else self.process)(texts)
            if len(predictions) != len(texts):
                raise RuntimeError(f"{self.name} returned {len(predictions)} results for {len(texts)} items")
        except BaseException as exc:  # noqa: BLE001 - must reach the waiting requests
            if len(batch) > 1:
                # Isolate the failing request so one bad input does not fail its neighbours.
                for job in batch:
                    self._execute([job])
                return
            # The request that receives the exception logs it with its request id and trace.
            log.warning("%s call failed for a request of %d items: %s", self.name, size, type(exc).__name__)
            batch[0].future.set_exception(exc)
            return
        if self.on_batch:
            self.on_batch(size, time.perf_counter() - start)
        offset = 0
        for job in batch:
            n = len(job.texts)
            job.future.set_result(predictions[offset:offset + n])
            offset += n

    def _report_queue(self, pending: int) -> None:
        if self.on_queue:
            self.on_queue(pending)

    # --- lifecycle ---------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Refuse new work, finish queued work, stop the threads (graceful shutdown)."""
        with self._ready:
            if self._closed:
                return
            self._closed = True
            self._ready.notify_all()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if any(thread.is_alive() for thread in self._threads):
            log.warning("batcher did not finish within %.0fs", timeout)
