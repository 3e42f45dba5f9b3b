"""How closely each candidate follows the shipped bundle on fresh texts that no step trained on or chose
by (data/unlabeled/fidelity.jsonl; seventh session). No labels and no test split: the bundle's own label
per text and head is the reference, and a candidate is scored against it — agreement, macro-F1 with the
bundle's labels as truth (rare classes weigh as much as common ones, as in the guard), per class, and the
paired bootstrap difference against the first candidate (1,000 resamples, evaluate's seed).

Why: the guard compares a student with *this* bundle, and two replicates of the bundle's own recipe lost
0.034–0.041 category macro-F1 against it on test. A student keeps the bundle's quality to the degree that
it makes the bundle's decisions, so its agreement on fresh texts says, before any test look, which recipe
keeps more of it. Candidates are bundles (argmax of their calibrated probabilities) or training runs (their
best transformer blended with their TF-IDF model at the shipped bundle's weights, as compare_folds.py).

    python reports/2026-12-06-student/fidelity.py runs/student-rare runs/student-fidelity models/teacher-r1
"""
import argparse
import json
from pathlib import Path

import numpy as np

from classifier.labels import HEADS, LABELS
from classifier.runtime import Classifier
from training.stats import class_f1_bootstrap, interval, resamples
from training.distill.teacher import bundle_probs, member_probs

ap = argparse.ArgumentParser()
ap.add_argument("candidates", nargs="+", help="bundle directories or training runs; the first is the baseline")
ap.add_argument("--reference", default="models/default")
ap.add_argument("--data", default="data/unlabeled/fidelity.jsonl")
ap.add_argument("--out", help="write the numbers as JSON here")
args = ap.parse_args()

rows = [json.loads(line) for line in open(args.data, encoding="utf-8") if line.strip()]
texts = [r["text"] for r in rows]
weights = json.loads((Path(args.reference) / "calibration.json").read_text(encoding="utf-8"))["blend"]


def labels_of(path: str) -> dict[str, np.ndarray]:
    if (Path(path) / "manifest.json").is_file():
        probs = bundle_probs(Classifier.load(path, batch_size=64), texts)
    else:
        probs = member_probs(path, texts, blend_weights=weights)
    return {h: probs[h].argmax(1) for h in HEADS}


reference = labels_of(args.reference)
samples = resamples(len(texts))
results, boots = {}, {}
for cand in args.candidates:
    pred = labels_of(cand)
    results[cand], boots[cand] = {}, {}
    for h in HEADS:
        k = len(LABELS[h])
        boot = class_f1_bootstrap(reference[h], pred[h], k, samples)
        full = class_f1_bootstrap(reference[h], pred[h], k, np.arange(len(texts))[None, :])
        boots[cand][h] = boot["macro"]
        results[cand][h] = {
            "agreement": float((pred[h] == reference[h]).mean()),
            "macro_f1_vs_reference": float(full["macro"][0]), "ci95": interval(boot["macro"]),
            "per_class": {lab: {"f1": float(full["per_class"][0, i]), "reference_n": int((reference[h] == i).sum()),
                                "predicted_n": int((pred[h] == i).sum())} for i, lab in enumerate(LABELS[h])}}
        if cand != args.candidates[0]:
            results[cand][h]["minus_first_ci95"] = interval(boot["macro"] - boots[args.candidates[0]][h])

print(f"{len(texts)} texts of {args.data}; reference {args.reference}")
for h in HEADS:
    print(f"\n{h}: agreement, macro-F1 against the reference's labels [95 %], per class F1 (reference n)")
    for cand, res in results.items():
        r = res[h]
        diff = r.get("minus_first_ci95")
        per = ", ".join(f"{lab} {v['f1']:.2f} ({v['reference_n']}→{v['predicted_n']})" for lab, v in r["per_class"].items())
        print(f"  {cand:40s} {r['agreement']:.3f}  {r['macro_f1_vs_reference']:.3f} [{r['ci95'][0]:.3f}, {r['ci95'][1]:.3f}]"
              + (f"  − first [{diff[0]:+.3f}, {diff[1]:+.3f}]" if diff else "") + f"  | {per}")
if args.out:
    Path(args.out).write_text(json.dumps({"data": args.data, "rows": len(texts), "reference": args.reference,
                                          "candidates": results}, indent=1), encoding="utf-8")
