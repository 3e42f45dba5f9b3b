"""Explanation latency per item: occlusion over jieba segments (serving/review/explain.py) with the
served bundle, on dev texts as the review queue would hold them (PII-masked), one item at a time.

    python bench/bench_explain.py [--bundle models/default] [--texts 100] [--threads 2]

Reports the uncached time per item (the first open of an item in the review page; reopening it is
a cache hit) with the number of occluded segments, and the cached time. The service sends the
n+1 texts through its micro-batcher, which adds a queue hop but the same model work.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=Path("models/default"))
    ap.add_argument("--data", type=Path, default=Path("data/labeled/dev.jsonl"))
    ap.add_argument("--texts", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-segments", type=int, default=48)
    args = ap.parse_args()

    from classifier.runtime import Classifier
    from serving.review.explain import ExplanationCache, explain
    from classifier.text.pii import mask_text

    clf = Classifier.load(args.bundle, threads=args.threads)
    rows = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines()[: args.texts]]
    texts = [mask_text(r["text"]) for r in rows]
    clf.predict(["预热：手机银行转账失败"])

    async def predict(batch):
        return clf.predict(batch)

    cache = ExplanationCache(len(texts) + 1)
    cold, warm, segments, chars = [], [], [], []
    for text in texts:
        labels = {h: p.label for h, p in clf.predict([text])[0].heads.items()}
        started = time.perf_counter()
        result = asyncio.run(explain(predict, text, labels, model_version=clf.model_version,
                                     max_segments=args.max_segments, cache=cache))
        cold.append((time.perf_counter() - started) * 1000)
        segments.append(len(result["segments"]))
        chars.append(len(text))
        started = time.perf_counter()
        asyncio.run(explain(predict, text, labels, model_version=clf.model_version, max_segments=args.max_segments,
                            cache=cache))
        warm.append((time.perf_counter() - started) * 1000)
    cold_sorted = sorted(cold)
    print(json.dumps({
        "bundle": clf.model_version, "texts": len(texts), "threads": args.threads,
        "chars_median": statistics.median(chars), "segments_median": statistics.median(segments),
        "segments_max": max(segments),
        "uncached_ms": {"mean": round(statistics.mean(cold), 1), "p50": round(statistics.median(cold), 1),
                        "p95": round(cold_sorted[int(0.95 * (len(cold) - 1))], 1), "max": round(max(cold), 1)},
        "cached_ms_p50": round(statistics.median(warm), 3),
    }, indent=1))


if __name__ == "__main__":
    main()
