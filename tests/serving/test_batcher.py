"""Micro-batching: concurrent requests share model calls, order is kept, failures stay local."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest

from serving.inference.batcher import MicroBatcher
from serving.http.errors import NotReady, Overloaded


class Recorder:
    """predict() that echoes its inputs and records batch sizes; optionally slow or failing."""

    def __init__(self, delay: float = 0.0, fail_on: str | None = None):
        self.delay = delay
        self.fail_on = fail_on
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[str]:
        with self.lock:
            self.calls.append(list(texts))
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on and self.fail_on in texts:
            raise ValueError("bad input")
        return [f"p:{t}" for t in texts]


def run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_are_batched_together_in_order():
    rec = Recorder(delay=0.05)
    batcher = MicroBatcher(rec, max_size=64, max_wait_ms=5)
    try:
        async def main():
            # The first request occupies the model; the next 20 queue up and must share a call.
            first = asyncio.create_task(batcher.process_async(["warm"]))
            await asyncio.sleep(0.01)
            rest = [batcher.process_async([f"r{i}a", f"r{i}b"]) for i in range(20)]
            return await first, await asyncio.gather(*rest)

        first, rest = run(main())
    finally:
        batcher.close()
    assert first == ["p:warm"]
    assert rest == [[f"p:r{i}a", f"p:r{i}b"] for i in range(20)]
    assert len(rec.calls) <= 3, [len(c) for c in rec.calls]
    assert max(len(c) for c in rec.calls) >= 20


def test_max_size_is_respected_and_large_requests_are_split():
    rec = Recorder()
    batcher = MicroBatcher(rec, max_size=8, max_wait_ms=1)
    try:
        texts = [f"t{i}" for i in range(30)]
        out = run(batcher.process_async(texts))
    finally:
        batcher.close()
    assert out == [f"p:{t}" for t in texts]
    assert all(len(c) <= 8 for c in rec.calls)


def test_a_failing_request_does_not_fail_its_batch_neighbours():
    rec = Recorder(delay=0.02, fail_on="bad")
    batcher = MicroBatcher(rec, max_size=64, max_wait_ms=20)
    try:
        async def main():
            good = batcher.process_async(["ok1"])
            bad = batcher.process_async(["bad"])
            good2 = batcher.process_async(["ok2"])
            return await asyncio.gather(good, bad, good2, return_exceptions=True)

        good, bad, good2 = run(main())
    finally:
        batcher.close()
    assert good == ["p:ok1"] and good2 == ["p:ok2"]
    assert isinstance(bad, ValueError)


def test_overload_is_refused_with_a_specific_error():
    release = threading.Event()

    def blocked(texts):
        release.wait(5)
        return texts

    batcher = MicroBatcher(blocked, max_size=4, max_wait_ms=0, max_queue_items=10)
    try:
        batcher.submit(["a"] * 4)  # taken by the worker, which then blocks
        time.sleep(0.05)
        batcher.submit(["b"] * 4)
        batcher.submit(["c"] * 4)
        with pytest.raises(Overloaded) as exc:
            batcher.submit(["d"] * 4)
        assert exc.value.http_status == 503 and exc.value.headers["Retry-After"]
    finally:
        release.set()
        batcher.close()


def test_close_finishes_queued_work_then_refuses_new_work():
    rec = Recorder(delay=0.02)
    batcher = MicroBatcher(rec, max_size=2, max_wait_ms=0)
    futures = [batcher.submit([f"x{i}"]) for i in range(6)]
    batcher.close()
    assert [f.result(timeout=1) for f in futures] == [[f"p:x{i}"] for i in range(6)]
    with pytest.raises(NotReady):
        batcher.submit(["late"])


def test_wrong_prediction_count_is_an_error_not_a_misalignment():
    batcher = MicroBatcher(lambda texts: texts[:-1], max_size=4, max_wait_ms=0)
    try:
        with pytest.raises(RuntimeError, match="2 items"):
            run(batcher.process_async(["a", "b"]))
    finally:
        batcher.close()


def test_concurrent_http_requests_share_model_calls(make_client):
    """End to end: single-item requests arriving together are classified in one model call."""
    from concurrent.futures import ThreadPoolExecutor

    from fakes import FakeClassifier

    fake = FakeClassifier(delay_s=0.05)
    api = make_client(fake, batch_max_wait_ms=20)
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda i: api.classify([{"id": str(i), "text": f"转账失败{i}"}]), range(8)))
    assert [r.status_code for r in responses] == [200] * 8
    assert [r.json()["results"][0]["id"] for r in responses] == [str(i) for i in range(8)]
    assert sum(fake.calls) == 8
    assert max(fake.calls) > 1, fake.calls
    assert 'triage_batch_size_count' in api.client.get("/metrics").text


def test_several_workers_run_model_calls_in_parallel_and_keep_order():
    rec = Recorder(delay=0.1)
    batcher = MicroBatcher(rec, max_size=1, max_wait_ms=0, workers=2)
    try:
        async def main():
            return await asyncio.gather(*(batcher.process_async([f"t{i}"]) for i in range(4)))

        start = time.perf_counter()
        out = run(main())
        elapsed = time.perf_counter() - start
    finally:
        batcher.close()
    assert out == [[f"p:t{i}"] for i in range(4)]
    # Four 0.1 s calls of one item: two workers need about 0.2 s, one would need 0.4 s.
    assert elapsed < 0.35, elapsed


def test_close_with_several_workers_answers_everything_queued():
    rec = Recorder(delay=0.01)
    batcher = MicroBatcher(rec, max_size=1, max_wait_ms=0, workers=3)
    futures = [batcher.submit([f"x{i}"]) for i in range(12)]
    batcher.close()
    assert [f.result(timeout=1) for f in futures] == [[f"p:x{i}"] for i in range(12)]
    assert not any(t.is_alive() for t in batcher._threads)


def test_zero_workers_is_refused():
    with pytest.raises(ValueError):
        MicroBatcher(Recorder(), workers=0)


def test_a_batch_that_is_all_the_work_in_flight_goes_to_process_alone():
    """An idle service's request gets the model's solo path; beside other work it does not."""
    rec, alone = Recorder(delay=0.05), Recorder(delay=0.05)
    batcher = MicroBatcher(rec, max_size=64, workers=2, process_alone=alone)
    try:
        async def main():
            first = await batcher.process_async(["one"])  # nothing else in flight
            slow = asyncio.create_task(batcher.process_async(["busy"]))  # alone, takes 50 ms
            await asyncio.sleep(0.01)
            beside = await batcher.process_async(["beside"])  # "busy" is still being scored
            return first, await slow, beside

        first, busy, beside = run(main())
    finally:
        batcher.close()
    assert (first, busy) == (["p:one"], ["p:busy"])  # Recorder answers the same either way
    assert beside == ["p:beside"]
    assert alone.calls == [["one"], ["busy"]]
    assert rec.calls == [["beside"]]
    assert batcher.alone_batches == 2
