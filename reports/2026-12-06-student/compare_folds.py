"""Two cross-fitting runs of the same fold on the same held-out rows (the report's third session):
macro-F1 per head and per class, transformer alone and blended with each run's own TF-IDF at the
shipped bundle's weights, with a paired bootstrap (1,000 resamples, seed 0) of the difference.
No test split is read: the rows are the fold's held-out training rows.

    python reports/2026-12-06-student/compare_folds.py runs/default-fold0of3 runs/student-fold0of3
    python reports/2026-12-06-student/compare_folds.py runs/default-fold0of3 runs/student-rare-fold0of3
"""
import json, sys
import numpy as np
from sklearn.metrics import f1_score
from classifier.calibration import blend, softmax
from classifier.labels import HEADS, LABELS
teacher, student = sys.argv[1], sys.argv[2]  # the second is compared against the first
rows = {json.loads(l)["id"]: json.loads(l) for l in open("data/labeled/train.jsonl")}
weights = json.load(open("models/default/calibration.json"))["blend"]
def probs(run, with_linear):
    z, zl = np.load(f"{run}/heldout.npz"), np.load(f"{run}/heldout_linear.npz")
    ids = [str(i) for i in z["ids"]]
    assert ids == [str(i) for i in zl["ids"]]
    return ids, {h: blend(softmax(z[h]), zl[h], weights[h]) if with_linear else softmax(z[h]) for h in HEADS}
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
