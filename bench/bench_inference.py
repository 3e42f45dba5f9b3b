"""Texts/second of the int8 ONNX bundle vs the PyTorch fp32 model, on the same 1,000 texts, one run.

    python bench/bench_inference.py --bundle models/default --run runs/default [--texts 1000] [--threads 2]

Both engines get the same normalized, tokenized inputs and the same length-sorted batches of 32,
so the ratio isolates the engine (and int8) from the pipeline. Batch-1 latency is reported too.
Needs the [train] extra and a training run directory (for the PyTorch weights).
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--bundle", type=Path, default=Path("models/default"))
    ap.add_argument("--run", type=Path, default=Path("runs/default"))
    ap.add_argument("--data", type=Path, default=Path("data/labeled/dev.jsonl"))
    ap.add_argument("--extra", type=Path, default=Path("data/labeled/train.jsonl"), help="fills up to --texts")
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--single", type=int, default=200, help="texts for batch-1 latency")
    args = ap.parse_args()

    import torch

    from classifier.normalize import normalize_text
    from classifier.runtime import Classifier
    from training.data import read_labelled
    from training.model import load_model
    from training.trainer import BEST_DIR, predict_logits

    torch.set_num_threads(args.threads)
    rows = read_labelled(args.data) + read_labelled(args.extra)
    texts = [normalize_text(r["text"]) for r in rows[: args.texts]]
    clf = Classifier.load(args.bundle, threads=args.threads, batch_size=32)
    model = load_model(args.run / BEST_DIR)
    ids = clf.encode(texts)
    lengths = [len(x) for x in ids]
    print(f"{len(texts)} texts, tokens mean {np.mean(lengths):.1f}, p95 {np.percentile(lengths, 95):.0f}, threads {args.threads}")

    def timed(fn, repeat=2):
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t)
        return best

    clf.logits(ids[:64])  # warm-up both engines
    predict_logits(model, ids[:64], clf.pad_id)
    t_onnx = timed(lambda: clf.logits(ids))
    t_torch = timed(lambda: predict_logits(model, ids, clf.pad_id, batch_size=32))
    t_full = timed(lambda: clf.predict(texts), repeat=1)

    one = ids[: args.single]
    lat_onnx = [timed(lambda x=x: clf.logits([x]), repeat=1) * 1000 for x in one]
    lat_torch = [timed(lambda x=x: predict_logits(model, [x], clf.pad_id), repeat=1) * 1000 for x in one]

    n = len(texts)
    print(f"{'engine':34s} {'texts/s':>9s} {'batch-1 p50 ms':>15s}")
    print(f"{'PyTorch fp32 (sorted batches of 32)':34s} {n / t_torch:9.1f} {statistics.median(lat_torch):15.2f}")
    print(f"{'ONNX Runtime int8 (same batches)':34s} {n / t_onnx:9.1f} {statistics.median(lat_onnx):15.2f}")
    print(f"{'Classifier.predict end to end':34s} {n / t_full:9.1f}")
    print(f"ratio int8 / PyTorch throughput: {t_torch / t_onnx:.2f}x; "
          f"batch-1 latency ratio: {statistics.median(lat_torch) / statistics.median(lat_onnx):.2f}x")


if __name__ == "__main__":
    main()
