"""``triage teacher --runs RUN ... [--bundles BUNDLE ...] --data FILE ... --out DIR``: ensemble soft
labels (and, on labelled files, the ensemble's metrics next to each member's)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "teacher",
        help="score files with an ensemble of training runs: soft labels for distillation, metrics on labelled files",
    )
    p.add_argument("--runs", type=Path, nargs="+", default=[], help="training runs (full run and its folds)")
    p.add_argument("--bundles", type=Path, nargs="+", default=[],
                   help="exported bundles as members (their calibrated probabilities), e.g. models/default")
    p.add_argument("--data", type=Path, nargs="+", required=True,
                   help="files to label: labelled files (JSONL/CSV/Excel/Parquet) are also evaluated; "
                        "plain JSONL with a text field is only labelled")
    p.add_argument("--bundle", type=Path, default=None,
                   help="take the per-head TF-IDF blend weights from this bundle's calibration (default: no blend)")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from classifier.bundle import load_bundle
    from classifier.errors import InvalidData
    from classifier.labels import HEADS
    from classifier.errors import ConfigError
    from training.data.schema import read_labelled
    from training.distill.teacher import bundle_probs, ensemble, member_probs, write_provenance, write_soft_labels
    from training.evaluation.evaluate import score_metrics

    if not args.runs and not args.bundles:
        raise ConfigError("the teacher needs members: give --runs RUN … and/or --bundles BUNDLE …")
    from classifier.runtime import Classifier

    weights = load_bundle(args.bundle).calibration.blend if args.bundle else None
    bundles = {str(b): Classifier.load(b, batch_size=64) for b in args.bundles}  # loaded once for every file
    args.out.mkdir(parents=True, exist_ok=True)
    write_provenance(args.out, args.runs, args.bundles)
    summary = {}
    for data in args.data:
        try:
            rows, labelled = read_labelled(data), True
        except InvalidData:
            rows = [json.loads(line) for line in data.open(encoding="utf-8") if line.strip()]
            labelled = False
        texts = [r["text"] for r in rows]
        members = {str(d): member_probs(d, texts, weights) for d in args.runs}
        members.update({name: bundle_probs(clf, texts) for name, clf in bundles.items()})
        teacher = ensemble(list(members.values()))
        write_soft_labels(args.out / f"{data.stem}.soft.jsonl", rows, teacher)
        if labelled:
            result = {"ensemble": score_metrics(rows, teacher), **{d: score_metrics(rows, m) for d, m in members.items()}}
            (args.out / f"{data.stem}.metrics.json").write_text(json.dumps(result, indent=1))
            summary[data.stem] = {name: {**{h: round(m["heads"][h]["macro_f1"], 4) for h in HEADS},
                                         "high_catch_at_10%": m["catch_at_share"]["urgency.high"]["0.10"]}
                                  for name, m in result.items()}
    print(json.dumps(summary, indent=1))
    return 0
