"""The export's quality guard applied to any bundle — here a replicate of the teacher itself (seventh
session): the same recipe trained again and exported the way the shipped bundle was, checked against the
shipped bundle's test metrics exactly as a student is (``training.evaluation.release_guard.guard_student_bundle``: macro-F1
per head within the tolerance, the review recall targets, the paired bootstrap interval). It asks whether
the guard's reference is reproducible by its own recipe. Evaluation only: nothing is fitted or chosen
from its output, and the shipped bundle stays what it is whatever it prints.

    triage teacher --bundles models/default --data data/labeled/test.jsonl --out runs/teacher
    python reports/2026-12-06-student/guard_replicate.py models/teacher-r1 models/teacher-r2
"""
import argparse
import json
from pathlib import Path

from training.config import DEFAULT_TOLERANCE
from training.evaluation.release_guard import guard_student_bundle
from training.fitting.review_policy import ReviewConfig

ap = argparse.ArgumentParser()
ap.add_argument("bundles", nargs="+")
ap.add_argument("--teacher-metrics", default="runs/teacher/test.metrics.json")
ap.add_argument("--reference", default="models/default")
ap.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE)
ap.add_argument("--test", default="data/labeled/test.jsonl")
args = ap.parse_args()
targets = ReviewConfig.from_yaml().recall_targets
for bundle in args.bundles:
    verdict = guard_student_bundle(Path(bundle), args.teacher_metrics, args.test, targets, args.tolerance,
                                   args.reference)
    print(f"== {bundle}: {'passed' if verdict['passed'] else 'failed'}")
    for h, v in verdict["heads"].items():
        ci = v.get("delta_ci95")
        print(f"  {h:9s} {v['student']:.4f} vs {v['teacher']:.4f}  delta {v['delta']:+.4f}"
              + (f"  [{ci[0]:+.3f}, {ci[1]:+.3f}]" if ci else ""))
    for k, v in verdict["seen_recall"].items():
        print(f"  seen recall {k}: {v['student']} (required {v['required']}, n={v['support']})")
    print(json.dumps(verdict, ensure_ascii=False))
