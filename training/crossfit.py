"""Cross-fitting: out-of-fold scores of every training row, for calibration and the review policy.

``triage train --fold K/N`` trains without fold K of the training rows (training/data/folds.py) and
scores it (run_dir.HELDOUT_FILE, and the TF-IDF model's HELDOUT_LINEAR_FILE); ``triage export
--crossfit RUN …`` fits calibration and the review policy on those scores as well as on dev
(``fitting_scores``): ~9× more rare-class examples than dev alone. No fitting step reads the test split.

A distilled student's fold is cross-fitted only from a teacher per fold (``check_fold_teacher``, else
``E606``). With the student's own teacher — trained on every training row, as were its starting
weights with ``init: bundle`` or ``teacher`` — a fold student's "held-out" scores are in-sample
(measured: reports/2026-12-06-student/). So fold K of a student learns only from fold K of the
teacher: `triage train --fold K/N` with the teacher's config, its soft labels (`triage teacher
--runs` that run alone; the provenance file beside them says so), and its weights (``init:
teacher``; ``bundle`` is refused). The run's held-out rows must be the student fold's. A fold that
passed the check keeps the record (``FOLD_TEACHER_FILE``), and the export takes only such student
folds for ``--crossfit`` (``refuse_distilled_folds``). Without folds, a student's calibration and
review policy are fitted on dev, which neither model trained on.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np
import yaml

from classifier.calibration import softmax
from classifier.labels import HEADS, label_index
from training.config import DistillConfig
from training.data.schema import is_traffic, read_labelled_files
from training.data.splits import guard_fitting_rows
from training.errors import TrainingError, leaky_crossfit
from training.run_dir import CONFIG_FILE, FOLD_TEACHER_FILE, HELDOUT_FILE, HELDOUT_LINEAR_FILE, PROVENANCE_FILE


def load_heldout(run_dirs: Sequence[str | Path]) -> dict:
    """Out-of-fold scores of cross-fitting runs, merged: ``{"ids": [...], "transformer": {head: probs},
    "linear": {head: probs} | None}``. Every id must come from exactly one run."""
    ids: list[str] = []
    transformer: dict[str, list] = {h: [] for h in HEADS}
    linear: dict[str, list] | None = {h: [] for h in HEADS}
    for d in run_dirs:
        d = Path(d)
        if not (d / HELDOUT_FILE).is_file():
            raise TrainingError(f"{d} holds no {HELDOUT_FILE}: is it a cross-fitting run (triage train --fold K/N)?",
                                details={"run": str(d)})
        held = np.load(d / HELDOUT_FILE)
        run_ids = [str(i) for i in held["ids"]]
        ids += run_ids
        for h in HEADS:
            transformer[h].append(softmax(held[h]))
        if linear is not None and (d / HELDOUT_LINEAR_FILE).is_file():
            lin = np.load(d / HELDOUT_LINEAR_FILE)
            if [str(i) for i in lin["ids"]] != run_ids:
                raise TrainingError(f"{d}: {HELDOUT_LINEAR_FILE} and {HELDOUT_FILE} hold different rows")
            for h in HEADS:
                linear[h].append(lin[h])
        else:
            linear = None
    if len(set(ids)) != len(ids):
        raise TrainingError("cross-fitting runs overlap: an id is held out by two runs", details={"runs": [str(d) for d in run_dirs]})
    return {"ids": ids, "transformer": {h: np.concatenate(v) for h, v in transformer.items()},
            "linear": None if linear is None else {h: np.concatenate(v) for h, v in linear.items()}}


def fitting_scores(raw, dev_rows: list[dict], crossfit_runs: Sequence[str | Path], train_files: Sequence[str | Path]):
    """(transformer probs, linear probs or None, targets, description, texts, traffic) to fit calibration
    on: the exported model's dev scores, plus the out-of-fold scores of cross-fitting runs. ``traffic``
    marks the rows that are a sample of traffic: not chosen by active learning (a ``selection`` field)."""
    guard_fitting_rows(dev_rows, "dev data (calibration)")
    rows = list(dev_rows)
    transformer = {h: [raw.transformer[h]] for h in HEADS}
    linear = {h: [raw.linear[h]] for h in HEADS} if raw.linear is not None else None
    description = {"dev_rows": len(dev_rows), "oof_rows": 0, "crossfit_runs": [str(r) for r in crossfit_runs]}
    if crossfit_runs:
        oof = load_heldout(crossfit_runs)
        by_id = {r["id"]: r for r in read_labelled_files(train_files)}
        missing = [i for i in oof["ids"] if i not in by_id]
        if missing:
            raise TrainingError(f"{len(missing)} out-of-fold ids are not in the training files (first: {missing[:3]})")
        oof_rows = [by_id[i] for i in oof["ids"]]
        guard_fitting_rows(oof_rows, "out-of-fold rows (calibration)")
        rows += oof_rows
        for h in HEADS:
            transformer[h].append(oof["transformer"][h])
        if linear is not None:
            if oof["linear"] is None:
                raise TrainingError("the bundle blends the TF-IDF model but the cross-fitting runs have no "
                                    "heldout_linear.npz: train them with baseline: true, or export with --no-linear")
            for h in HEADS:
                linear[h].append(oof["linear"][h])
        description["oof_rows"] = len(oof_rows)
    targets = {h: np.array([label_index(h, r[h]) for r in rows]) for h in HEADS}
    traffic = np.array([is_traffic(r) for r in rows], dtype=bool)
    description["selected_rows"] = int((~traffic).sum())
    return ({h: np.concatenate(v) for h, v in transformer.items()},
            None if linear is None else {h: np.concatenate(v) for h, v in linear.items()}, targets, description,
            [r["text"] for r in rows], traffic)


def refuse_distilled_folds(crossfit_runs: Sequence[str | Path]) -> None:
    """E606 before any work when a cross-fitting run is a distilled student's fold without a checked
    fold teacher (``check_fold_teacher`` writes the record it needs)."""
    for run in crossfit_runs:
        config = Path(run) / CONFIG_FILE
        if (config.is_file() and (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("distill")
                and not (Path(run) / FOLD_TEACHER_FILE).is_file()):
            raise leaky_crossfit(str(run), f"it has no {FOLD_TEACHER_FILE}: it was not trained from a fold teacher")


def check_fold_teacher(distill: DistillConfig, heldout_ids: Sequence[str], fold: str) -> dict:
    """What a student fold learns from, checked never to have seen its held-out rows (else E606):
    every soft-label file was written by `triage teacher` (its provenance file) with one member, a
    cross-fitting run whose held-out rows are this fold's; with ``init: teacher`` the starting weights
    are that run's too. Returns the record kept in the fold's run (``FOLD_TEACHER_FILE``), which the
    export's ``--crossfit`` requires of a student's fold."""
    what = f"student fold {fold}"
    runs = set()
    for soft in distill.soft_labels:
        provenance = Path(soft).parent / PROVENANCE_FILE
        try:
            members = json.loads(provenance.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise leaky_crossfit(what, f"{soft} has no readable {PROVENANCE_FILE} beside it, so nothing shows which "
                                       "model labelled it") from None
        if members.get("bundles") or len(members.get("runs") or []) != 1:
            raise leaky_crossfit(what, f"{soft} was labelled by {members}, not by one fold run of the teacher")
        runs.add(members["runs"][0])
    if len(runs) != 1:
        raise leaky_crossfit(what, f"its soft labels come from several teachers ({sorted(runs)})")
    run = Path(runs.pop())
    if distill.init == "teacher" and Path(distill.teacher_run).resolve() != run:
        raise leaky_crossfit(what, f"its starting weights come from {distill.teacher_run}, its soft labels from {run}")
    try:
        teacher_heldout = {str(i) for i in np.load(run / HELDOUT_FILE)["ids"]}
    except (OSError, KeyError, ValueError):
        raise leaky_crossfit(what, f"its teacher {run} is not a cross-fitting run (no readable {HELDOUT_FILE})") from None
    ours = {str(i) for i in heldout_ids}
    if teacher_heldout != ours:
        raise leaky_crossfit(what, f"its teacher {run} held out other rows ({len(teacher_heldout & ours)} of this "
                                   f"fold's {len(ours)} rows; {len(teacher_heldout - ours)} others): a fold of the "
                                   "same K/N, seed and training files is needed")
    return {"teacher_run": str(run), "init": distill.init, "heldout_rows": len(ours),
            "soft_labels": [str(Path(p).resolve()) for p in distill.soft_labels]}
