"""Explanation time per queued item, idle and under classification load (serving/review/explain.py).

The service explains each item the review policy queues, in the background, through its
micro-batcher as a client of its own. This benchmark builds the same pieces in one process: the
bundle loaded as the service loads it (workers, threads and solo session from the default
settings), the micro-batcher with its fair share, and the explainer's call. Its texts are dev texts
the bundle queues (PII-masked, as stored), explained one after another, as the background task does:

1. idle: nothing else runs;
2. capacity: items/s with 4 clients each keeping a 32-item request in flight (``--calibrate`` s);
3. under load: open-loop classify arrivals at ``--load`` x capacity in items (single-item and
   8-item requests over 8 API keys) while the same texts are explained again (a fresh cache).

Prints, per phase, the uncached time per item (p50, p95, max) with the occluded units, and the
single-item classify latency under load. Target (issue 25): p95 <= 1 s per item under load.

    PYTHONPATH=. python bench/bench_explain.py [--bundle models/default] [--texts 100] [--load 0.5]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from functools import partial
from pathlib import Path


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else float("nan")


def summary(values: list[float]) -> dict[str, float]:
    return {"p50": pct(values, 0.5), "p95": pct(values, 0.95), "max": round(max(values), 1)}


async def run(args: argparse.Namespace) -> dict:
    from classifier.runtime import Classifier
    from classifier.text.pii import mask_text
    from serving.inference.batcher import MicroBatcher
    from serving.review.explain import CLIENT, ExplanationCache, explain
    from serving.settings import Settings, model_parallelism, solo_threads

    settings = Settings(_env_file=None)
    workers, threads = model_parallelism(settings)
    solo = solo_threads(settings)
    clf = Classifier.load(args.bundle, threads=threads, batch_size=settings.batch_max_size, solo_threads=solo)
    clf.predict(["预热：手机银行转账失败，年费怎么收？"])
    if solo:
        clf.predict(["预热：手机银行转账失败，年费怎么收？"], solo=True)
    batcher = MicroBatcher(clf.predict, max_size=settings.batch_max_size, max_wait_ms=settings.batch_max_wait_ms,
                           workers=workers, chunk_items=settings.fair_chunk_items,
                           process_alone=(lambda t: clf.predict(t, solo=True)) if solo else None)

    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines()]
    masked = [mask_text(r["text"]) for r in rows]
    texts, labels, reasons = [], [], []
    for start in range(0, len(masked), 256):  # the items the review policy queues, as the queue holds them
        chunk = masked[start:start + 256]
        for text, p in zip(chunk, clf.predict(chunk)):
            if p.needs_review and len(texts) < args.texts:
                texts.append(text)
                labels.append({h: hp.label for h, hp in p.heads.items()})
                reasons.append(list(p.review_reasons))
        if len(texts) >= args.texts:
            break
    predict = partial(batcher.process_async, client=CLIENT)

    async def explain_all() -> tuple[list[float], list[int]]:
        cache = ExplanationCache(len(texts) + 1)
        times, units = [], []
        for text, lab, why in zip(texts, labels, reasons):
            started = time.perf_counter()
            result = await explain(predict, text, lab, model_version=clf.model_version,
                                   max_segments=args.max_segments, cache=cache, reasons=why,
                                   budget_chars=args.budget_chars)
            times.append((time.perf_counter() - started) * 1000)
            units.append(len({s["unit"] for s in result["segments"] if s["unit"] is not None}))
        return times, units

    idle, units = await explain_all()

    # Capacity: 4 clients with a 32-item request always in flight.
    done = 0
    stop_at = time.monotonic() + args.calibrate

    async def saturate(key: int) -> None:
        nonlocal done
        rng = random.Random(key)
        while time.monotonic() < stop_at:
            await batcher.process_async(rng.sample(masked, 32), client=f"cal{key}")
            done += 32

    started = time.monotonic()
    await asyncio.gather(*(saturate(k) for k in range(4)))
    capacity = done / (time.monotonic() - started)

    # Under load: open-loop arrivals at load x capacity items/s while the texts are explained again.
    rate_items = args.load * capacity
    singles: list[float] = []
    sent = 0
    running = True

    async def one_request(key: int, size: int, rng: random.Random) -> None:
        t0 = time.perf_counter()
        await batcher.process_async(rng.sample(masked, size), client=f"key{key}")
        if size == 1:
            singles.append((time.perf_counter() - t0) * 1000)

    async def arrivals() -> None:
        nonlocal sent
        rng = random.Random(7)
        tasks = []
        mean_items = 0.5 * 1 + 0.5 * 8
        while running:
            size = 1 if rng.random() < 0.5 else 8
            tasks.append(asyncio.create_task(one_request(rng.randrange(8), size, rng)))
            sent += size
            await asyncio.sleep(rng.expovariate(rate_items / mean_items))
        await asyncio.gather(*tasks)

    load_task = asyncio.create_task(arrivals())
    load_started = time.monotonic()
    await asyncio.sleep(1.0)  # let the load settle
    loaded, _ = await explain_all()
    running = False
    await load_task
    load_seconds = time.monotonic() - load_started
    batcher.close()
    return {
        "bundle": clf.model_version, "texts": len(texts), "workers": workers, "threads": threads, "solo_threads": solo,
        "max_segments": args.max_segments, "budget_chars": args.budget_chars,
        "chars_median": statistics.median(len(t) for t in texts), "units_median": statistics.median(units),
        "units_max": max(units),
        "idle_ms": summary(idle),
        "capacity_items_per_s": round(capacity, 1),
        "load": {"target_share": args.load, "items_per_s": round(sent / load_seconds, 1), "seconds": round(load_seconds, 1),
                 "single_item_classify_ms": summary(singles)},
        "under_load_ms": summary(loaded),
        "target": "p95 <= 1000 ms per item under load",
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bundle", type=Path, default=Path("models/default"))
    ap.add_argument("--data", type=Path, default=Path("data/labeled/dev.jsonl"))
    ap.add_argument("--texts", type=int, default=100, help="queued dev texts to explain (per phase)")
    ap.add_argument("--max-segments", type=int, default=None, help="default: the service's explain_max_segments")
    ap.add_argument("--budget-chars", type=int, default=None, help="default: the service's explain_budget_chars")
    ap.add_argument("--load", type=float, default=0.5, help="classify load as a share of the measured capacity")
    ap.add_argument("--calibrate", type=float, default=5.0, help="seconds to measure capacity")
    args = ap.parse_args()
    from serving.settings import Settings

    defaults = Settings(_env_file=None)
    args.max_segments = defaults.explain_max_segments if args.max_segments is None else args.max_segments
    args.budget_chars = defaults.explain_budget_chars if args.budget_chars is None else args.budget_chars
    print(json.dumps(asyncio.run(run(args)), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
