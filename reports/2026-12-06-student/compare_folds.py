"""Cross-fitting runs of two recipes on the same held-out rows (the report's third and fourth sessions):
macro-F1 per head and per class, transformer alone and blended with each run's own TF-IDF at the
shipped bundle's weights, with a paired bootstrap (1,000 resamples, seed 0) of the difference.
No test split is read: the rows are the folds' held-out training rows. One fold each, or every fold
of both (``--teacher`` runs, then ``--student`` runs: their out-of-fold scores of every training row).

    python reports/2026-12-06-student/compare_folds.py runs/default-fold0of3 runs/student-fold0of3
    python reports/2026-12-06-student/compare_folds.py --teacher runs/default-fold{0,1,2}of3 \
        --student runs/student-rare-fold{0,1,2}of3
"""
import argparse
import json

import numpy as np
from sklearn.metrics import f1_score
from classifier.calibration import blend, softmax
from classifier.labels import HEADS, LABELS
ap = argparse.ArgumentParser()
ap.add_argument("pair", nargs="*", help="TEACHER_FOLD STUDENT_FOLD (the second is compared against the first)")
ap.add_argument("--teacher", nargs="+", default=[])
ap.add_argument("--student", nargs="+", default=[])
args = ap.parse_args()
teacher, student = (args.pair[:1], args.pair[1:]) if args.pair else (args.teacher, args.student)
assert teacher and student, "give TEACHER_FOLD STUDENT_FOLD, or --teacher RUN... --student RUN..."
rows = {json.loads(line)["id"]: json.loads(line) for line in open("data/labeled/train.jsonl")}
weights = json.load(open("models/default/calibration.json"))["blend"]
def probs(runs, with_linear):
    ids, out = [], {h: [] for h in HEADS}
    for run in runs:
        z, zl = np.load(f"{run}/heldout.npz"), np.load(f"{run}/heldout_linear.npz")
        run_ids = [str(i) for i in z["ids"]]
        assert run_ids == [str(i) for i in zl["ids"]]
        ids += run_ids
        for h in HEADS:
            out[h].append(blend(softmax(z[h]), zl[h], weights[h]) if with_linear else softmax(z[h]))
    assert len(set(ids)) == len(ids), "two runs hold out the same row"
    return ids, {h: np.concatenate(v) for h, v in out.items()}
rng = np.random.default_rng(0)
for with_linear in (False, True):
    ids_t, pt = probs(teacher, with_linear)
    ids_s, ps = probs(student, with_linear)
    order = {i: k for k, i in enumerate(ids_s)}
    idx = np.array([order[i] for i in ids_t])
    print("blended at the bundle's weights" if with_linear else "transformer alone", f"({len(ids_t)} held-out rows)")
    for h in HEADS:
        gold = np.array([LABELS[h].index(rows[i][h]) for i in ids_t])
        a, b = pt[h].argmax(1), ps[h][idx].argmax(1)
        ft, fs = f1_score(gold, a, average="macro"), f1_score(gold, b, average="macro")
        diffs = []
        for _ in range(1000):
            s = rng.integers(0, len(gold), len(gold))
            diffs.append(f1_score(gold[s], b[s], average="macro") - f1_score(gold[s], a[s], average="macro"))
        lo, hi = np.percentile(diffs, [2.5, 97.5])
        per = f1_score(gold, a, average=None), f1_score(gold, b, average=None)
        print(f"  {h:9s} teacher {ft:.3f} student {fs:.3f} diff {fs-ft:+.3f} [95% {lo:+.3f}, {hi:+.3f}]  per class "
              + ", ".join(f"{lab} {x:.2f}->{y:.2f}" for lab, x, y in zip(LABELS[h], *per)))
