"""Lanes against one multi-threaded session: ``Classifier.predict`` end to end, same bundle, same texts.

    python bench/bench_lanes.py [--bundle models/default] [--texts 1000] [--threads 2] [--repeat 3]

A call of several batches runs them side by side, one per core, each on a one-thread ONNX Runtime
session (``classifier/runtime.py``, "lanes"). The other way is what the runtime did before: batch after
batch on one session whose operators are split over ``--threads`` intra-op threads. Both Classifiers
are loaded from the same bundle; they take turns block by block (blocks of 256 texts, as
``bench_inference.py`` gives them), so a burst of load from other processes hits them alike. Needs only
the runtime (no [train] extra); dev texts, then training texts, never the test split.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=Path("models/default"))
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from classifier.runtime import Classifier

    texts = [json.loads(line)["text"] for name in ("dev", "train")
             for line in Path(f"data/labeled/{name}.jsonl").read_text(encoding="utf-8").splitlines()][: args.texts]
    blocks = [texts[i:i + 256] for i in range(0, len(texts), 256)]
    lanes = Classifier.load(args.bundle, threads=args.threads, batch_size=32)
    one_session = Classifier.load(args.bundle, threads=args.threads, batch_size=32)
    one_session._lanes = None  # every batch on the multi-threaded session, one after the other
    for clf in (lanes, one_session):
        clf.predict(blocks[0])  # warm-up: lazy initialisation, tokenizer and jieba caches

    print(f"bundle {lanes.model_version}; {len(texts)} texts in blocks of 256; {args.threads} threads")
    ratios = []
    for rep in range(args.repeat):
        t_lanes = t_one = 0.0
        for block in blocks:
            start = time.perf_counter()
            one_session.predict(block)
            t_one += time.perf_counter() - start
            start = time.perf_counter()
            lanes.predict(block)
            t_lanes += time.perf_counter() - start
        ratios.append(t_one / t_lanes)
        print(f"pass {rep + 1}: lanes {len(texts) / t_lanes:.1f} texts/s, one {args.threads}-thread session "
              f"{len(texts) / t_one:.1f} texts/s, lanes / one session {ratios[-1]:.3f}")
    print(f"lanes_over_one_session {min(ratios):.3f}–{max(ratios):.3f}")


if __name__ == "__main__":
    main()
