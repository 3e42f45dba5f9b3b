"""Quantization schemes side by side on one trained model: speed, size, parity, batch independence.

    python bench/bench_quantization.py --run runs/default [--texts 600] [--threads 2]

Schemes: fp32; int8 dynamic (QDQ-free MatMulInteger, activations quantized per batch tensor);
weight-only 8-bit and 4-bit MatMulNBits (block 32; accuracy level 4 quantizes activations per block of a
row, so a text's result does not depend on its batch neighbours). Needs the [train] extra.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path, default=Path("runs/default"))
    ap.add_argument("--data", type=Path, default=Path("data/labeled/dev.jsonl"))
    ap.add_argument("--texts", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import onnx
    import onnxruntime as ort
    import torch
    from onnxruntime.quantization import matmul_nbits_quantizer as nbits
    from transformers import AutoTokenizer

    from classifier.calibration import softmax
    from classifier.labels import HEADS
    from classifier.text.normalize import normalize_text
    from training.data.schema import read_labelled
    from training.export.onnx import export_onnx
    from training.export.quantize import quantize
    from training.modeling.model import load_model
    from training.run_dir import BEST_DIR
    from training.modeling.inference import collate, predict_logits

    torch.set_num_threads(args.threads)
    model = load_model(args.run / BEST_DIR)
    tok = AutoTokenizer.from_pretrained(str(args.run / BEST_DIR))
    texts = [normalize_text(r["text"]) for r in read_labelled(args.data)[: args.texts]]
    ids = tok(texts, truncation=True, max_length=160)["input_ids"]
    ref = predict_logits(model, ids, tok.pad_token_id)

    tmp = Path(tempfile.mkdtemp())
    fp32 = tmp / "fp32.onnx"
    export_onnx(model, fp32, tok.pad_token_id)
    schemes = {"fp32": fp32, "int8-dynamic": tmp / "int8.onnx"}
    quantize(fp32, schemes["int8-dynamic"])
    for bits in (8, 4):
        q = nbits.MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=bits, block_size=32, is_symmetric=True, accuracy_level=4)
        q.process()
        path = tmp / f"nbits{bits}.onnx"
        q.model.save_model_to_file(str(path), use_external_data_format=False)
        schemes[f"weight-only-{bits}bit"] = path

    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    print(f"{len(texts)} dev texts, threads {args.threads}")
    print(f"{'scheme':20s} {'MB':>6s} {'texts/s':>8s} {'speed vs fp32':>13s} {'min agree':>9s} {'max |dp|':>9s} {'batch drift':>11s}")
    base_speed = None
    for name, path in schemes.items():
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

        def run(index):
            i, m = collate([ids[k] for k in index], tok.pad_token_id)
            return sess.run(None, {"input_ids": i.numpy(), "attention_mask": m.numpy()})

        run(order[:32])
        t = time.perf_counter()
        outs = [run(order[s : s + 32]) for s in range(0, len(order), 32)]
        speed = len(order) / (time.perf_counter() - t)
        base_speed = base_speed or speed
        logits = {h: np.concatenate([o[j] for o in outs])[np.argsort(order)] for j, h in enumerate(HEADS)}
        agree = min(float((logits[h].argmax(1) == ref[h].argmax(1)).mean()) for h in HEADS)
        diff = max(float(np.abs(softmax(logits[h]) - softmax(ref[h])).max()) for h in HEADS)
        # same 8 texts alone vs inside a batch with the longest texts
        probe = order[:8]
        alone = [run([k])[0] for k in probe]
        mixed = run(probe + order[-24:])[0][:8]
        drift = float(np.abs(softmax(np.concatenate(alone)) - softmax(mixed)).max())
        print(f"{name:20s} {path.stat().st_size / 2**20:6.1f} {speed:8.1f} {speed / base_speed:12.2f}x {agree:9.4f} {diff:9.4f} {drift:11.2e}")


if __name__ == "__main__":
    main()
