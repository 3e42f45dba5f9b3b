"""Issue 13, item 5: one client's large batch does not stall everyone else, a request has a
deadline (504 E526), and one key cannot fill the model queue (429 E527)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import func, select

from serving.inference.batcher import MicroBatcher
from serving.db.tables import Classification


def slow_model(per_item_s: float):
    seen: list[list[str]] = []

    def process(texts):
        seen.append(list(texts))
        time.sleep(per_item_s * len(texts))
        return list(texts)

    return process, seen


@pytest.mark.parametrize("small_client", ["ticket-desk", "bulk"])  # another key, or the same one
def test_a_small_request_is_not_queued_behind_a_large_one(small_client):
    process, seen = slow_model(0.004)
    batcher = MicroBatcher(process, max_size=32, chunk_items=8, workers=1)
    try:
        async def scenario():
            big = asyncio.create_task(batcher.process_async([f"big{i}" for i in range(256)], client="bulk"))
            await asyncio.sleep(0.05)  # the large request is queued and being worked on
            started = time.monotonic()
            small = await batcher.process_async(["small"], client=small_client)
            small_latency = time.monotonic() - started
            await big
            return small, small_latency, time.monotonic() - started

        small, small_latency, big_rest = asyncio.run(scenario())
    finally:
        batcher.close()
    assert small == ["small"]
    # FIFO would answer it after all 256 items (~1 s); in turn it rides in the next batch.
    assert small_latency < 0.4 * big_rest, (small_latency, big_rest)
    batch_with_small = next(i for i, b in enumerate(seen) if "small" in b)
    assert batch_with_small <= 2, [len(b) for b in seen]


def test_cancelled_work_is_dropped_before_it_runs():
    gate = threading.Event()
    calls: list[list[str]] = []

    def process(texts):
        calls.append(list(texts))
        gate.wait(5)
        return list(texts)

    batcher = MicroBatcher(process, max_size=4, workers=1)
    try:
        first = batcher.submit(["running"])
        time.sleep(0.05)
        waiting = batcher.submit(["given-up"])
        assert waiting.cancel()
        gate.set()
        assert first.result(5) == ["running"]
        batcher.submit(["after"]).result(5)
    finally:
        batcher.close()
    assert ["given-up"] not in calls and all("given-up" not in c for c in calls)


def test_items_in_flight_are_capped_per_key(make_client, fake_classifier):
    fake_classifier.delay_s = 0.3
    api = make_client(fake_classifier, max_items_in_flight_per_key=4, fair_chunk_items=2)
    results = {}

    def big():
        results["big"] = api.classify([{"id": str(i), "text": "年费"} for i in range(4)])

    t = threading.Thread(target=big)
    t.start()
    time.sleep(0.1)
    r = api.classify([{"id": "x", "text": "年费"}])
    t.join()
    assert results["big"].status_code == 200
    assert r.status_code == 429 and r.json()["error"]["code"] == "E527" and r.headers["Retry-After"] == "1"
    assert api.classify([{"id": "y", "text": "年费"}]).status_code == 200  # answered: the cap is free again


def test_request_deadline_gives_504_and_stores_nothing(make_client, fake_classifier):
    fake_classifier.delay_s = 1.5
    api = make_client(fake_classifier, request_timeout_seconds=0.3)
    started = time.monotonic()
    r = api.classify([{"id": "slow", "text": "年费"}])
    elapsed = time.monotonic() - started
    assert r.status_code == 504 and r.json()["error"]["code"] == "E526", r.text
    assert elapsed < 1.2
    time.sleep(1.5)  # the model call finishes; its results must not be stored for a 504
    with api.services.sessions() as s:
        assert s.scalar(select(func.count()).select_from(Classification)) == 0


def test_a_flood_gets_a_fair_share_and_still_finishes():
    """Issue 26, item 6: a 256-item request from one key, queued first, then closed-loop
    single-item clients on eight other keys. Each single is answered well before the flood ends,
    no batch holds more than one part of the flood, and all of the flood's items come back."""
    slow, seen = slow_model(0.002)
    calls: list[tuple[float, list[str]]] = []  # (start, texts) of every model call

    def process(texts):
        calls.append((time.monotonic(), list(texts)))
        return slow(texts)

    batcher = MicroBatcher(process, max_size=64, chunk_items=16, workers=2)
    window: list[float] = []
    try:
        async def scenario():
            flood = asyncio.create_task(batcher.process_async([f"A{i}" for i in range(256)], client="A"))
            await asyncio.sleep(0.01)
            window.append(time.monotonic())
            latencies: list[float] = []
            finished: list[float] = []

            async def single(key: str) -> None:
                for n in range(3):
                    started = time.monotonic()
                    assert await batcher.process_async([f"{key}{n}"], client=key) == [f"{key}{n}"]
                    latencies.append(time.monotonic() - started)
                    finished.append(time.monotonic())

            await asyncio.gather(*(single(k) for k in "BCDEFGHI"))
            window.append(time.monotonic())
            result = await flood
            return result, latencies, finished, time.monotonic()

        result, latencies, finished, flood_done = asyncio.run(scenario())
    finally:
        batcher.close()
    assert result == [f"A{i}" for i in range(256)]  # every item, in order
    assert len(latencies) == 24 and max(finished) < flood_done
    # A part of 16 items takes ~32 ms; FIFO (or a 64-item flood call) makes singles wait far longer.
    assert max(latencies) < 0.25, sorted(latencies)
    # Before the singles arrive the flood has the model to itself (64-item calls); after, it gets
    # one part per call at most, beside the singles.
    # Every call begun while singles were in flight (in either worker) holds one part at most.
    during = [texts for start, texts in calls if window[0] < start < window[1]]
    assert during and max(sum(t.startswith("A") for t in b) for b in during) <= 16, [len(b) for b in seen]


def test_one_client_alone_is_batched_as_before():
    """No other key in flight: a large request fills whole batches (max_size), as it always did."""
    gate = threading.Event()
    process, seen = slow_model(0.0)

    def gated(texts):
        gate.wait(5)
        return process(texts)

    batcher = MicroBatcher(gated, max_size=64, chunk_items=16, workers=1)
    try:
        first = batcher.submit(["warm"], client="A")
        time.sleep(0.05)  # the worker is in its call, so the large request queues whole
        parts = batcher.submit_many([[f"A{i}" for i in range(j, j + 16)] for j in range(0, 256, 16)], client="A")
        gate.set()
        first.result(5)
        assert [p for f in parts for p in f.result(5)] == [f"A{i}" for i in range(256)]
    finally:
        batcher.close()
    assert [len(b) for b in seen] == [1, 64, 64, 64, 64]
