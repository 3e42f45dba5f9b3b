"""Same text, same answer: the ways to make a text's scores independent of its batch, for speed and parity.

    python bench/bench_batch_invariance.py --bundle-rev a4c1cac [--texts 600] [--alone 150] [--threads 2] [--repeat 2]
    python bench/bench_batch_invariance.py --bundle PER_TENSOR_BUNDLE ...

Starts from a bundle quantized the old way (``quantize_dynamic``: one activation scale per batch
tensor) — ``--bundle-rev`` takes ``models/default`` from that git revision (``a4c1cac``: the last
commit whose default bundle was quantized that way) — and builds the options
beside it, each a bundle in a temporary directory:

- **per-token** (what the export does now, training/export/token_quantization.py): a symmetric int8 scale
  per token, computed in the graph;
- **one text per batch** (the old graph, ``batch_size=1``; the runtime's lanes run texts side by side);
- **static**: one fixed scale and zero point per activation tensor, calibrated on 256 training texts
  (real tokens only, min/max);
- **fp32**: every quantized MatMul back to fp32 with its int8 weights dequantized (the speed of fp32;
  the weights keep their int8 rounding).

For each: throughput of ``Classifier.predict`` over ``--texts`` dev texts in blocks of 256 (engines
take turns block by block so that load from other processes hits them alike; best of ``--repeat``),
the speed ratio to the old graph, and parity: ``--alone`` texts scored one by one against the same
texts scored in the blocks (label and review differences, largest confidence difference) and label
agreement with the old graph. Needs the runtime and ``onnx`` ([train]); never reads the test split.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def bundle_from_rev(rev: str, into: Path) -> Path:
    """``models/default`` as committed in ``rev``, written under ``into``."""
    archive = subprocess.run(["git", "archive", rev, "models/default"], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "models" / "default"


def variant(src: Path, dst: Path, model: onnx.ModelProto) -> Path:
    """A copy of bundle ``src`` with ``model`` as its graph, its manifest rewritten."""
    from classifier.bundle import MANIFEST, write_manifest

    shutil.copytree(src, dst)
    onnx.save(model, str(dst / "model.onnx"))
    fields = json.loads((dst / MANIFEST).read_text(encoding="utf-8"))
    fields.pop("files", None)
    fields.pop("format_version", None)
    write_manifest(dst, **fields)
    return dst


def dynamic_patterns(graph: onnx.GraphProto):
    """(DynamicQuantizeLinear node, [its MatMulInteger consumers]) in graph order."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return consumers, [(n, [c for c in consumers[n.output[0]] if c.op_type == "MatMulInteger"])
                       for n in graph.node if n.op_type == "DynamicQuantizeLinear"]


def static_graph(model: onnx.ModelProto, clf, texts: list[str]) -> onnx.ModelProto:
    """Each DynamicQuantizeLinear replaced by QuantizeLinear with a uint8 scale and zero point from the
    min/max of its input over the real tokens of ``texts`` (the calibrated scale of option b)."""
    import onnxruntime as ort

    from classifier.text.normalize import normalize_text

    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    _, patterns = dynamic_patterns(graph)
    probe = onnx.ModelProto.FromString(model.SerializeToString())
    for node, _ in patterns:
        probe.graph.output.append(onnx.helper.make_empty_tensor_value_info(node.input[0]))
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [n.input[0] for n, _ in patterns]
    lo, hi = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
    ids = clf.encode([normalize_text(t) for t in texts])
    for start in range(0, len(ids), 32):
        chunk = ids[start:start + 32]
        width = max(map(len, chunk))
        x = np.full((len(chunk), width), clf.pad_id, np.int64)
        mask = np.zeros_like(x)
        for r, seq in enumerate(chunk):
            x[r, :len(seq)], mask[r, :len(seq)] = seq, 1
        outs = session.run(names, {"input_ids": x, "attention_mask": mask})
        for name, value in zip(names, outs):
            real = value[mask.astype(bool)] if value.ndim == 3 else value
            lo[name], hi[name] = min(lo[name], float(real.min())), max(hi[name], float(real.max()))
    for node, _ in patterns:
        name = node.input[0]
        scale = (hi[name] - lo[name]) / 255
        zp = int(np.clip(round(-lo[name] / scale), 0, 255))
        s_name, z_name = node.output[1], node.output[2]
        graph.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), s_name),
                                  numpy_helper.from_array(np.array(zp, np.uint8), z_name)])
        node.op_type = "QuantizeLinear"
        node.input.extend([s_name, z_name])
        del node.output[1:]
    return model


def fp32_graph(model: onnx.ModelProto) -> onnx.ModelProto:
    """Every ``DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul`` back to a float MatMul on the
    dequantized weights (option d's speed)."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    graph = model.graph
    init = {i.name: i for i in graph.initializer}
    consumers, patterns = dynamic_patterns(graph)
    drop = set()
    added = []
    for node, matmuls in patterns:
        drop.add(id(node))
        for mm in matmuls:
            w = numpy_helper.to_array(init[mm.input[1]]).astype(np.float32)
            wz = numpy_helper.to_array(init[mm.input[3]]).astype(np.float32) if len(mm.input) > 3 else 0
            cast = consumers[mm.output[0]][0]
            out_mul = consumers[cast.output[0]][0]
            scales_mul = next(c for c in consumers[node.output[1]] if c.output[0] in out_mul.input)
            w_scale = numpy_helper.to_array(init[[i for i in scales_mul.input if i != node.output[1]][0]])
            name = mm.input[1] + "_fp32"
            added.append(numpy_helper.from_array(((w - wz) * w_scale).astype(np.float32), name))
            drop.update({id(mm), id(cast), id(scales_mul)})
            out_mul.op_type = "MatMul"
            del out_mul.input[:]
            out_mul.input.extend([node.input[0], name])
    keep = [n for n in graph.node if id(n) not in drop]
    del graph.node[:]
    graph.node.extend(keep)
    used = {i for n in keep for i in n.input}
    live = [i for i in graph.initializer if i.name in used] + added
    del graph.initializer[:]
    graph.initializer.extend(live)
    del graph.value_info[:]
    return model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bundle", type=Path, help="a bundle quantized per batch tensor (the old way)")
    ap.add_argument("--bundle-rev", help="git revision whose models/default is such a bundle")
    ap.add_argument("--texts", type=int, default=600)
    ap.add_argument("--alone", type=int, default=150, help="texts also scored one by one (parity)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="option names to run (default: all)")
    args = ap.parse_args()

    from classifier.runtime import Classifier
    from training.export.token_quantization import per_token_activations

    tmp = Path(tempfile.mkdtemp(prefix="bench-invariance-"))
    try:
        before = args.bundle or bundle_from_rev(args.bundle_rev or "HEAD", tmp)
        model = onnx.load(str(before / "model.onnx"))
        if not any(n.op_type == "DynamicQuantizeLinear" for n in model.graph.node):
            raise SystemExit(f"{before} has no DynamicQuantizeLinear (already per token?): pass --bundle-rev of an older commit")
        rows = [json.loads(line) for line in Path("data/labeled/dev.jsonl").read_text(encoding="utf-8").splitlines()]
        texts = [r["text"] for r in rows][: args.texts]
        calibration = [json.loads(line)["text"] for line in
                       Path("data/labeled/train.jsonl").read_text(encoding="utf-8").splitlines()[:256]]
        old = Classifier.load(before, threads=args.threads)
        per_token, _ = per_token_activations(onnx.ModelProto.FromString(model.SerializeToString()))
        options = {
            "per-tensor (old)": old,
            "per-token (new)": Classifier.load(variant(before, tmp / "per-token", per_token), threads=args.threads),
            "per-tensor, one text per batch": Classifier.load(before, threads=args.threads, batch_size=1),
            "static calibrated": Classifier.load(variant(before, tmp / "static", static_graph(model, old, calibration)),
                                                 threads=args.threads),
            "fp32": Classifier.load(variant(before, tmp / "fp32", fp32_graph(model)), threads=args.threads),
        }
        if args.only:
            options = {k: v for k, v in options.items() if k == "per-tensor (old)" or k in args.only}
        names = list(options)
        for clf in options.values():
            clf.predict(texts[:64])  # warm-up
        blocks = [texts[i:i + 256] for i in range(0, len(texts), 256)]
        best = dict.fromkeys(names, float("inf"))
        batched = {}
        for _ in range(args.repeat):
            total = dict.fromkeys(names, 0.0)
            for k, block in enumerate(blocks):
                for name in names[k % len(names):] + names[: k % len(names)]:
                    started = time.perf_counter()
                    out = options[name].predict(block)
                    total[name] += time.perf_counter() - started
                    batched.setdefault(name, {}).update({k * 256 + i: p for i, p in enumerate(out)})
            best = {n: min(best[n], total[n]) for n in names}
        print(f"{len(texts)} dev texts in blocks of 256, {args.threads} threads; {args.alone} of them also one by one; "
              f"bundle {old.model_version} ({before})")
        print(f"{'option':32s} {'texts/s':>8s} {'/ old':>6s} {'alone vs batch: labels':>23s} {'reviews':>8s} "
              f"{'max |dp|':>9s} {'labels = old':>13s}")
        for name in names:
            clf = options[name]
            alone = [clf.predict([t])[0] for t in texts[: args.alone]]
            labels = reviews = 0
            dp = 0.0
            for i, a in enumerate(alone):
                b = batched[name][i]
                reviews += a.needs_review != b.needs_review
                for h, head in a.heads.items():
                    labels += head.label != b.heads[h].label
                    dp = max(dp, max(abs(v - b.heads[h].scores[c]) for c, v in head.scores.items()))
            agree = np.mean([batched[name][i].heads[h].label == batched[names[0]][i].heads[h].label
                             for i in range(len(texts)) for h in batched[name][i].heads])
            tps = len(texts) / best[name]
            print(f"{name:32s} {tps:8.1f} {best[names[0]] / best[name]:6.2f} {labels:23d} {reviews:8d} "
                  f"{dp:9.2e} {agree:13.4f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
