"""Fused vs unfused ONNX graphs, fp32 and int8, on the same texts: speed and agreement with PyTorch.

    python bench/bench_fusion.py [--model runs/default/best] [--layers 12] [--texts 1000] [--threads 2]

Without ``--model`` it needs no training run: the encoder is the base model (`artifacts/base-model`, as
bench_inference.py builds it) cut to ``--layers`` layers (evenly spaced up to the top, as a student is)
with untrained heads — speed does not depend on the weights, but label agreement of untrained heads
(near-uniform probabilities, argmax flips on tiny changes) understates int8 parity; read the max
probability difference there, and rerun with ``--model`` on a trained run for the parity numbers and the
fp32 fallback walk the export does (``--walk``).

Graphs: the export's ONNX (eager attention), ONNX Runtime's transformer fusions on it (Attention,
SkipLayerNormalization, BiasGelu, EmbedLayerNormalization), each fp32 and int8 dynamic (per-channel and,
for reference, per-tensor weights). Every engine gets the same length-sorted batches of 32.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=None, help="a trained model directory (run/best)")
    ap.add_argument("--base-model", type=Path, default=Path("artifacts/base-model"))
    ap.add_argument("--layers", type=int, default=12, help="encoder layers (without --model)")
    ap.add_argument("--max-length", type=int, default=160)
    ap.add_argument("--texts", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--single", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3, help="timed passes over the texts per graph, interleaved (best kept)")
    ap.add_argument("--walk", action="store_true", help="also walk the export's fp32 fallback on the fused graph to 99.5%")
    args = ap.parse_args()

    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoTokenizer

    from classifier.calibration import softmax
    from classifier.labels import HEADS
    from classifier.text.normalize import normalize_text
    from training.data.schema import read_labelled
    from training.distill.student import student_layers
    from training.export.onnx import export_onnx, fuse
    from training.export.quantize import MIN_AGREEMENT, fp32_fallback_order, quantize
    from training.modeling.model import MultiHeadClassifier, load_model
    from training.modeling.inference import collate, predict_logits

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.model:
        model, tok_dir = load_model(args.model), args.model
    else:
        model, tok_dir = MultiHeadClassifier.from_encoder_dir(args.base_model).eval(), args.base_model
        if args.layers < model.encoder.config.num_hidden_layers:
            from torch import nn

            keep = student_layers(model.encoder.config.num_hidden_layers, args.layers)
            model.encoder.encoder.layer = nn.ModuleList(model.encoder.encoder.layer[i] for i in keep)
            model.encoder.config.num_hidden_layers = len(keep)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    pad = tokenizer.pad_token_id
    rows = read_labelled("data/labeled/dev.jsonl") + read_labelled("data/labeled/train.jsonl")
    texts = [normalize_text(r["text"]) for r in rows[: args.texts]]
    ids = tokenizer(texts, truncation=True, max_length=args.max_length)["input_ids"]
    reference = predict_logits(model, ids, pad)
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    batches = [[ids[i] for i in order[s: s + 32]] for s in range(0, len(order), 32)]
    inverse = np.argsort(order)
    cfg = model.encoder.config
    print(f"{len(texts)} texts, {cfg.num_hidden_layers} layers, {'trained ' + str(args.model) if args.model else 'untrained heads'}, "
          f"threads {args.threads}, onnxruntime {ort.__version__}")

    tmp = Path(tempfile.mkdtemp())
    graphs = {}
    export_onnx(model, tmp / "plain.onnx", pad)
    graphs["unfused fp32"] = tmp / "plain.onnx"
    stats = fuse(tmp / "plain.onnx", tmp / "fused.onnx", cfg.num_attention_heads, cfg.hidden_size)
    print("fused operators:", stats)
    graphs["fused fp32"] = tmp / "fused.onnx"
    for name, src in (("unfused", tmp / "plain.onnx"), ("fused", tmp / "fused.onnx")):
        quantize(src, tmp / f"{name}.int8.onnx")
        graphs[f"{name} int8 per-channel"] = tmp / f"{name}.int8.onnx"
    stats_na = fuse(tmp / "plain.onnx", tmp / "fused_na.onnx", cfg.num_attention_heads, cfg.hidden_size, attention=False)
    print("fused without attention:", stats_na)
    quantize(tmp / "fused_na.onnx", tmp / "fused_na.int8.onnx")
    graphs["fused no-Attn int8 p-ch"] = tmp / "fused_na.int8.onnx"
    quantize_dynamic(str(tmp / "fused.onnx"), str(tmp / "fused.attfp32.onnx"), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Gather", "EmbedLayerNormalization"], extra_options={"DefaultTensorType": 1})
    graphs["fused, Attn fp32, int8 p-ch"] = tmp / "fused.attfp32.onnx"
    quantize_dynamic(str(tmp / "fused.onnx"), str(tmp / "fused.int8t.onnx"), weight_type=QuantType.QInt8, per_channel=False,
                     op_types_to_quantize=["MatMul", "Attention", "Gather", "EmbedLayerNormalization"], extra_options={"DefaultTensorType": 1})
    graphs["fused int8 per-tensor"] = tmp / "fused.int8t.onnx"

    def session(path):
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = args.threads
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

    def run(sess, batch):
        a, m = collate(batch, pad)
        return sess.run(None, {"input_ids": a.numpy(), "attention_mask": m.numpy()})

    def agreement(sess) -> tuple[float, float]:
        outs = [run(sess, b) for b in batches]
        agree, diff = [], []
        for k, h in enumerate(HEADS):
            o = np.concatenate([x[k] for x in outs])[inverse]
            p, q = softmax(reference[h]), softmax(o)
            agree.append(float((p.argmax(1) == q.argmax(1)).mean()))
            diff.append(float(np.abs(p - q).max()))
        return min(agree), max(diff)

    print(f"{'graph':28s} {'MB':>6s} {'texts/s':>8s} {'batch-1 p50 ms':>15s} {'min label agreement':>20s} {'max prob diff':>14s}")
    sessions = {name: session(path) for name, path in graphs.items()}
    best = {name: float("inf") for name in graphs}
    lat: dict[str, list[float]] = {name: [] for name in graphs}
    for sess in sessions.values():
        run(sess, batches[0])
    # interleaved rounds: a burst of load from other processes hits every graph alike
    for _ in range(args.rounds):
        for name, sess in sessions.items():
            t = time.perf_counter()
            for b in batches:
                run(sess, b)
            best[name] = min(best[name], time.perf_counter() - t)
    for x in ids[: args.single]:
        for name, sess in sessions.items():
            t = time.perf_counter()
            run(sess, [x])
            lat[name].append((time.perf_counter() - t) * 1000)
    results = {}
    for name, path in graphs.items():
        agree, diff = agreement(sessions[name])
        results[name] = len(texts) / best[name]
        print(f"{name:28s} {path.stat().st_size / 2**20:6.1f} {results[name]:8.1f} {statistics.median(lat[name]):15.2f} "
              f"{agree:20.4f} {diff:14.4f}")
    print(f"fused / unfused throughput: fp32 {results['fused fp32'] / results['unfused fp32']:.2f}x, "
          f"int8 {results['fused int8 per-channel'] / results['unfused int8 per-channel']:.2f}x; "
          f"fused int8 / unfused fp32 {results['fused int8 per-channel'] / results['unfused fp32']:.2f}x")

    if args.walk:
        fallback = fp32_fallback_order(tmp / "fused.onnx")
        keep: list[str] = []
        while True:
            quantize(tmp / "fused.onnx", tmp / "walk.onnx", keep)
            agree, diff = agreement(session(tmp / "walk.onnx"))
            print(f"  {len(keep):3d} of {len(fallback)} weight nodes fp32: min label agreement {agree:.4f}, max prob diff {diff:.4f}")
            if agree >= MIN_AGREEMENT or len(keep) == len(fallback):
                break
            keep.append(fallback[len(keep)])
        print("fp32 nodes needed:", keep)


if __name__ == "__main__":
    main()
