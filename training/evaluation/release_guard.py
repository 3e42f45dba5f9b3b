"""The release guard of a distilled student: may it ship beside the default bundle?

It runs at the end of a student's export, after calibration and the review policy are fitted
(evaluation only: nothing is chosen from it), and applies issue 29's non-inferiority rule
(``training.config.GuardRule``) on each guard file (test and test_hard by default): per head the
student's macro-F1 is at least ``ratio`` × the reference's, with the paired bootstrap interval of the
difference reported; and with its own review policy its seen recall of each watched class meets the
rule's target at no more than the rule's review share (``check_student``). The reference is the default
bundle evaluated on the same rows (``--guard-reference``), or, on a single file, the teacher's metrics
from ``triage teacher`` (``--guard-teacher``). Otherwise the export fails (``E603``) and the bundle is
moved aside to ``OUT.rejected`` (``enforce``).
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np

from classifier.labels import HEADS, label_index
from training.config import GuardRule
from training.data.schema import read_labelled
from training.distill.soft_labels import read_soft_labels
from training.errors import GuardMissing, StudentBelowTeacher
from training.evaluation.evaluate import evaluate_bundle, predicted_labels
from training.stats import paired_differences


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


def check_student(student: dict, teacher: dict, rule: GuardRule | None = None,
                  differences: dict[str, list[float]] | None = None) -> dict:
    """The rule's verdict on one guard file from the student's metrics there (``evaluate_bundle``) and
    the reference's per-head macro-F1 (``teacher``: ``teacher_test_metrics``' shape). ``differences``
    (``paired_differences``) adds each head's interval to the verdict and its message; the rule is the
    point ratio either way (the interval is what the card shows the reader)."""
    rule = rule or GuardRule()
    heads = {}
    for h in HEADS:
        s, t = float(student["heads"][h]["macro_f1"]), teacher["macro_f1"][h]
        heads[h] = {"student": round(s, 4), "reference": round(t, 4), "delta": round(s - t, 4),
                    "required": round(rule.ratio * t, 4), "ok": s >= rule.ratio * t - 1e-9}
        if differences and h in differences:
            heads[h]["delta_ci95"] = differences[h]
    recall = {}
    for key, target in rule.recall.items():
        seen = student["review"]["seen_recall"].get(key, {})
        value = seen.get("value")
        recall[key] = {"student": value, "required": target, "support": seen.get("support"),
                       "ok": value is None or value >= target - 1e-9}
    share = float(student["review"]["share"])
    failures = [f"{h} macro-F1 {v['student']:.4f} < {rule.ratio} × reference {v['reference']:.4f} = {v['required']:.4f}"
                + (f" (paired 95 % interval of the difference {v['delta_ci95'][0]:+.3f} … {v['delta_ci95'][1]:+.3f})"
                   if "delta_ci95" in v else "")
                for h, v in heads.items() if not v["ok"]]
    failures += [f"seen recall {k} {v['student']:.3f} < {v['required']:.3f}" for k, v in recall.items() if not v["ok"]]
    if share > rule.max_review_share + 1e-9:
        failures.append(f"review share {share:.3f} > {rule.max_review_share}")
    return {"rows": student.get("rows"), "heads": heads, "seen_recall": recall,
            "review_share": round(share, 4), "passed": not failures, "failures": failures}


def guard_file(bundle_dir: Path, test_file: str | Path, rule: GuardRule, reference_bundle: str | Path | None = None,
               teacher_metrics: str | Path | None = None) -> dict:
    """The rule on one guard file: the finished student and the reference (the reference bundle scored
    on the same rows, else the teacher's metrics) with the paired interval per head."""
    rows = read_labelled(test_file)
    gold = {h: np.array([label_index(h, r[h]) for r in rows]) for h in HEADS}
    with tempfile.TemporaryDirectory() as tmp:
        student = evaluate_bundle(bundle_dir, test_file, Path(tmp) / "student", plots=False)
        mine = predicted_labels(Path(tmp) / "student")
        if reference_bundle:
            ref = evaluate_bundle(reference_bundle, test_file, Path(tmp) / "reference", plots=False)
            reference = {"rows": ref["rows"], "macro_f1": {h: float(ref["heads"][h]["macro_f1"]) for h in HEADS}}
            theirs = predicted_labels(Path(tmp) / "reference")
    if not reference_bundle:
        reference = teacher_test_metrics(teacher_metrics)
        if reference.get("rows") is not None and reference["rows"] != student["rows"]:
            raise GuardMissing(f"the teacher's metrics cover {reference['rows']} rows, the guard's file {test_file} "
                               f"{student['rows']}: score the same test split with `triage teacher`")
        labels = teacher_test_labels(teacher_metrics)
        ids = [str(r["id"]) for r in rows]
        theirs = ({h: np.array([labels[h][i] for i in ids]) for h in HEADS}
                  if labels and all(i in labels[h] for h in HEADS for i in ids) else None)
    differences = paired_differences(gold, theirs, mine) if theirs is not None else None
    verdict = check_student(student, reference, rule, differences)
    verdict["test_file"] = str(test_file)
    return verdict


def guard_student_bundle(bundle_dir: Path, test_files: Sequence[str | Path], rule: GuardRule | None = None,
                         reference_bundle: str | Path | None = None, teacher_metrics: str | Path | None = None) -> dict:
    """Evaluate the finished student bundle on every guard file (evaluation only: every fitting step is
    done) and return the verdict (the caller raises): passed only when the rule holds on each file."""
    rule = rule or GuardRule()
    if not reference_bundle and not teacher_metrics:
        raise GuardMissing("the release guard needs a reference: --guard-reference BUNDLE (the default bundle) "
                           "or --guard-teacher METRICS")
    if not reference_bundle and len(test_files) > 1:
        raise GuardMissing("the teacher's metrics cover one file; to guard on several (test and test_hard) give "
                           "--guard-reference BUNDLE, the default bundle scored on each")
    files = [guard_file(bundle_dir, f, rule, reference_bundle, teacher_metrics) for f in test_files]
    failures = [f"{Path(v['test_file']).name}: {msg}" for v in files for msg in v["failures"]]
    return {"rule": dataclasses.asdict(rule), "files": files, "passed": not failures, "failures": failures,
            "reference_bundle": str(reference_bundle) if reference_bundle else None,
            "teacher_metrics": str(teacher_metrics) if teacher_metrics and not reference_bundle else None}


DEFAULT_GUARD_FILES = ("data/labeled/test.jsonl", "data/labeled/test_hard.jsonl")


def run_guard(out: Path, guard: dict, review=None) -> dict:
    """The guard on the finished bundle (all fitting done), from the export's ``guard`` settings; the
    default guard files are test and test_hard (the latter where the checkout has it), or test alone
    against the teacher's metrics (they cover that file)."""
    files = guard.get("test_files") or (
        [f for f in DEFAULT_GUARD_FILES if f == DEFAULT_GUARD_FILES[0] or Path(f).exists()]
        if guard.get("reference_bundle") else [DEFAULT_GUARD_FILES[0]])  # the teacher's metrics: test alone
    return guard_student_bundle(out, files, guard.get("rule") or GuardRule(), guard.get("reference_bundle"),
                                guard.get("teacher_metrics"))


def verdict_lines(verdict: dict) -> list[str]:
    """The verdict in a few lines for the export's output (the model card has the table)."""
    rule = verdict["rule"]
    lines = [f"release rule (macro-F1 ≥ {rule['ratio']} × reference per head; seen recall "
             + ", ".join(f"{k} ≥ {v}" for k, v in rule["recall"].items())
             + f" at review ≤ {rule['max_review_share']:.0%}): {'PASSED' if verdict['passed'] else 'FAILED'}"]
    for v in verdict["files"]:
        heads = ", ".join(f"{h} {x['student']:.3f}/{x['reference']:.3f}"
                          + (f" Δ [{x['delta_ci95'][0]:+.3f}, {x['delta_ci95'][1]:+.3f}]" if "delta_ci95" in x else "")
                          for h, x in v["heads"].items())
        recall = ", ".join(f"{k} {x['student']:.3f}" for k, x in v["seen_recall"].items() if x["student"] is not None)
        lines.append(f"  {Path(v['test_file']).name} ({v['rows']} rows): {'ok' if v['passed'] else 'FAILED'}; "
                     f"macro-F1 student/reference {heads}; seen recall {recall}; review {v['review_share']:.1%}")
    return lines


def enforce(verdict: dict, bundle_dir: Path) -> None:
    """A failed verdict moves the finished bundle aside to ``OUT.rejected`` (so it cannot be picked up
    as a release) and raises E603 naming every failure."""
    if verdict["passed"]:
        return
    rejected = bundle_dir.with_name(bundle_dir.name + ".rejected")
    shutil.rmtree(rejected, ignore_errors=True)
    bundle_dir.rename(rejected)
    raise StudentBelowTeacher(
        "the student fails the release rule: " + "; ".join(verdict["failures"])
        + f" (bundle moved to {rejected})\n" + "\n".join(verdict_lines(verdict)), details=verdict["failures"])
