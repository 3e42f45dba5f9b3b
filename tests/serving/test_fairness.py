"""Issue 13, item 5: one client's large batch does not stall everyone else, a request has a
deadline (504 E526), and one key cannot fill the model queue (429 E527)."""
from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import func, select

from serving.batcher import MicroBatcher
from serving.models import Classification


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
