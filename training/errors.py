"""Training's numbered errors (``E6xx``): stable codes, as in classifier/errors.py.

They live here, not in the runtime: only training raises them, and the runtime never imports
training/. They subclass ``classifier.errors.TriageError``, so the ``triage`` CLI reports them like
every other error. Codes never change meaning and are unique across classifier/, training/ and serving/
(tests/test_error_codes.py).
"""
from __future__ import annotations

from classifier.errors import TriageError


class TrainingError(TriageError):
    code = "E600"


class ExportParityError(TrainingError):
    """The exported ONNX model disagrees with the PyTorch model beyond the allowed tolerance."""

    code = "E601"


class TestSplitLeak(TrainingError):
    """Rows about to be fitted on (training, early stopping, baseline tuning, calibration, review
    policy) include texts of the held-out test split (training/data/splits.py)."""

    __test__ = False  # not a pytest test class despite the name
    code = "E602"


class StudentBelowTeacher(TrainingError):
    """The export's release guard refused a distilled student: on a guard file a head's macro-F1 is
    under the rule's ratio × the reference's, a watched class's seen recall is under its target, or the
    review share is over the rule's (training/evaluation/release_guard.py)."""

    code = "E603"


class SoftLabelError(TrainingError):
    """A soft-label file cannot be used for distillation (malformed, other labels, a dev text)."""

    code = "E604"


class GuardMissing(TrainingError):
    """A distilled run was exported without a reference to guard it against (the default bundle or the
    teacher's test metrics)."""

    code = "E605"


class LeakyCrossFit(TrainingError):
    """A distilled student's fold learns from something that saw its held-out rows — a teacher (or
    starting weights) trained on every training row, or another fold's teacher — so the scores of
    its "held-out" fold are in-sample, and calibration and the review policy fitted on them would be
    too lax. A fold is honest with its own fold teacher (training/crossfit.py: check_fold_teacher)."""

    code = "E606"


class SourceInputNotServed(TrainingError):
    """A run trained with ``source_input`` (the source kind read before the text, classifier/sources.py)
    cannot be exported: the runtime, the service and `triage score` pass the model texts only, so the
    bundle would be served without the input it learned from. The option exists to measure the lever
    (reports/2026-12-07-round4-levers/)."""

    code = "E607"


class AdaptedEncoderMissing(TrainingError):
    """A training config with an ``adapt:`` section has no adapted encoder to start from, or one made from
    another base model, other texts or another recipe (training/trainer/adaptation.py): run
    ``triage base-model adapt`` with the config first."""

    code = "E608"


def leaky_crossfit(what: str, why: str | None = None) -> LeakyCrossFit:
    """E606 for a distilled student's cross-fitting fold whose teacher saw its held-out rows; one
    message for the config check, the training run and the export (training/crossfit.py says why)."""
    why = why or ("its teacher trained on every training row (and its starting weights too, with init: bundle "
                  "or teacher)")
    return LeakyCrossFit(
        f"{what}: a distilled student's fold is honest only when everything it learns from never saw its held-out "
        f"rows, but {why}. Its held-out scores would be in-sample, and a calibration or review policy fitted on them "
        "too lax. Either give each fold its own teacher — `triage train --fold K/N` with the teacher's config, "
        "`triage teacher --runs THAT_RUN --data … --out DIR`, then `triage distill --fold K/N --fold-teacher "
        "THAT_RUN --teacher DIR/*.soft.jsonl` — or export the student without --crossfit (its fitting set is dev, "
        "which neither the teacher nor the student trained on)")
