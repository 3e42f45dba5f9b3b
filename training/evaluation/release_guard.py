"""The release guard of a distilled student: is it good enough to replace what ships?

It runs at the end of a student's export, after calibration and the review policy are fitted
(evaluation only: nothing is chosen from it). On the test split the student's macro-F1 per head must
be within ``tolerance`` of the teacher's (from ``triage teacher --data data/labeled/test.jsonl``) or
above, and its seen recall per watched class must meet the review targets (``check_student``).
Otherwise the export fails (``E603``) and the bundle is moved aside to ``OUT.rejected``
(``enforce``).
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from classifier.labels import HEADS, LABELS, label_index
from training.config import DEFAULT_TOLERANCE
from training.data.schema import read_labelled
from training.distill.soft_labels import read_soft_labels
from training.errors import GuardMissing, StudentBelowTeacher
from training.evaluation.evaluate import evaluate_bundle
from training.stats import class_f1_bootstrap, interval, resamples


def teacher_test_metrics(path: str | Path) -> dict:
    """Per-head macro-F1 of the teacher: `triage teacher`'s ``*.metrics.json`` (its ``ensemble``) or a
    bundle's ``metrics.json`` from `triage evaluate`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise GuardMissing(f"cannot read the teacher's test metrics {path}: {exc}") from None
    data = data.get("ensemble", data)
    try:
        return {"rows": data.get("rows"), "macro_f1": {h: float(data["heads"][h]["macro_f1"]) for h in HEADS}}
    except (KeyError, TypeError):
        raise GuardMissing(f"{path} holds no per-head macro_f1 (expected `triage teacher` or `triage evaluate` metrics)") from None


def teacher_test_labels(teacher_metrics: str | Path) -> dict[str, dict[str, int]] | None:
    """The teacher's label per test row and head (argmax of its probabilities, as its metrics count them),
    from the soft-label file `triage teacher` writes beside ``NAME.metrics.json`` (``NAME.soft.jsonl``);
    None when there is none (then the guard reports no interval)."""
    path = Path(teacher_metrics)
    soft = path.with_name(path.name.replace(".metrics.json", ".soft.jsonl"))
    if soft == path or not soft.exists():
        return None
    labels: dict[str, dict[str, int]] = {h: {} for h in HEADS}
    for record in read_soft_labels([soft]):
        for h in HEADS:
            labels[h][str(record["id"])] = int(record["soft"][h].argmax())
    return labels


def paired_differences(gold: dict[str, np.ndarray], teacher: dict[str, np.ndarray],
                       student: dict[str, np.ndarray]) -> dict[str, list[float]]:
    """95 % bootstrap interval of student − teacher macro-F1 per head, both scored on the same resampled
    rows (evaluate's resamples: 1,000, fixed seed). On the 1,797-row test split it is ~±0.025 wide for
    category: the guard's 0.01 tolerance is inside the noise, and the verdict shows how far."""
    samples = resamples(len(gold[HEADS[0]]))
    out = {}
    for h in HEADS:
        k = len(LABELS[h])
        diff = (class_f1_bootstrap(gold[h], student[h], k, samples)["macro"]
                - class_f1_bootstrap(gold[h], teacher[h], k, samples)["macro"])
        out[h] = interval(diff)
    return out


def check_student(student: dict, teacher: dict, recall_targets: dict[str, float], tolerance: float = DEFAULT_TOLERANCE,
                  reference_recall: dict[str, float] | None = None,
                  differences: dict[str, list[float]] | None = None) -> dict:
    """The guard's verdict from the student's test metrics (``evaluate_bundle``) and the teacher's
    (``teacher_test_metrics``). A recall target that the reference (the teacher's served bundle) also
    misses on test counts at the reference's value: the student must not see fewer than what ships.
    ``differences`` (``paired_differences``) adds each head's interval to the verdict and its message;
    the rule is the point difference against ``tolerance`` either way."""
    heads = {}
    for h in HEADS:
        s, t = float(student["heads"][h]["macro_f1"]), teacher["macro_f1"][h]
        heads[h] = {"student": round(s, 4), "teacher": round(t, 4), "delta": round(s - t, 4), "ok": s >= t - tolerance}
        if differences and h in differences:
            heads[h]["delta_ci95"] = differences[h]
    recall = {}
    for key, target in recall_targets.items():
        seen = student["review"]["seen_recall"].get(key, {})
        value = seen.get("value")
        required = min(target, reference_recall[key]) if reference_recall and key in reference_recall else target
        recall[key] = {"student": value, "target": target, "required": round(required, 4),
                       "support": seen.get("support"), "ok": value is None or value >= required - 1e-9}
    failures = [f"{h} macro-F1 {v['student']:.4f} < teacher {v['teacher']:.4f} - {tolerance}"
                + (f" (paired 95 % interval of the difference {v['delta_ci95'][0]:+.3f} … {v['delta_ci95'][1]:+.3f})"
                   if "delta_ci95" in v else "")
                for h, v in heads.items() if not v["ok"]]
    failures += [f"seen recall {k} {v['student']:.3f} < {v['required']:.3f}" for k, v in recall.items() if not v["ok"]]
    return {"tolerance": tolerance, "rows": student.get("rows"), "heads": heads, "seen_recall": recall,
            "passed": not failures, "failures": failures}


def guard_student_bundle(bundle_dir: Path, teacher_metrics: str | Path, test_file: str | Path, recall_targets: dict[str, float],
                         tolerance: float = DEFAULT_TOLERANCE, reference_bundle: str | Path | None = None) -> dict:
    """Evaluate the finished student bundle on the test split (evaluation only: every fitting step is
    done) and return ``check_student``'s verdict (the caller raises)."""
    teacher = teacher_test_metrics(teacher_metrics)
    with tempfile.TemporaryDirectory() as tmp:
        student = evaluate_bundle(bundle_dir, test_file, Path(tmp) / "student", plots=False)
        reference = None
        if reference_bundle:
            ref = evaluate_bundle(reference_bundle, test_file, Path(tmp) / "reference", plots=False)
            reference = {k: v["value"] for k, v in ref["review"]["seen_recall"].items() if v["value"] is not None}
        with (Path(tmp) / "student" / "predictions.jsonl").open(encoding="utf-8") as fh:
            predicted = [json.loads(line) for line in fh if line.strip()]  # in the test file's order
    if teacher.get("rows") is not None and teacher["rows"] != student["rows"]:
        raise GuardMissing(f"the teacher's metrics cover {teacher['rows']} rows, the guard's file {test_file} "
                           f"{student['rows']}: score the same test split with `triage teacher`")
    differences = None
    teacher_labels = teacher_test_labels(teacher_metrics)
    rows = read_labelled(test_file)
    ids = [str(r["id"]) for r in rows]
    if teacher_labels and all(i in teacher_labels[h] for h in HEADS for i in ids):
        gold = {h: np.array([label_index(h, r[h]) for r in rows]) for h in HEADS}
        differences = paired_differences(
            gold, {h: np.array([teacher_labels[h][i] for i in ids]) for h in HEADS},
            {h: np.array([label_index(h, p[h]["label"]) for p in predicted]) for h in HEADS})
    verdict = check_student(student, teacher, recall_targets, tolerance, reference, differences)
    verdict.update(test_file=str(test_file), teacher_metrics=str(teacher_metrics),
                   reference_bundle=str(reference_bundle) if reference_bundle else None)
    return verdict


def run_guard(out: Path, guard: dict, review) -> dict:
    """The guard on the finished bundle (all fitting done), from the export's ``guard`` settings."""
    return guard_student_bundle(out, guard["teacher_metrics"], guard.get("test_file") or "data/labeled/test.jsonl",
                                review.recall_targets, guard.get("tolerance", DEFAULT_TOLERANCE),
                                guard.get("reference_bundle"))


def enforce(verdict: dict, bundle_dir: Path) -> None:
    """A failed verdict moves the finished bundle aside to ``OUT.rejected`` (so it cannot be picked up
    as a release) and raises E603 naming every failure."""
    if verdict["passed"]:
        return
    rejected = bundle_dir.with_name(bundle_dir.name + ".rejected")
    shutil.rmtree(rejected, ignore_errors=True)
    bundle_dir.rename(rejected)
    raise StudentBelowTeacher(
        "the student does not reach the teacher on the test split: " + "; ".join(verdict["failures"])
        + f" (tolerance {verdict['tolerance']}; bundle moved to {rejected})", details=verdict["failures"])
