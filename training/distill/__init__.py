"""Distillation: a smaller student from the teacher ensemble's soft labels.

The student is the teacher's own fine-tuned model (a training run's ``best/``: embeddings, heads and
vocabulary) cut to ``num_layers`` of its encoder layers — evenly spaced, ending at the top layer, or the
``layers`` listed. With ``init: bundle`` the fine-tuned model comes from an exported bundle instead (its
ONNX weights dequantized, ``training/modeling/from_bundle.py``: runs do not survive a machine, the shipped
bundle does); with ``init: base`` the student is the pretrained encoder cut the same way, its vocabulary
trimmed to the training, dev and unlabelled texts, with new heads (measured much worse: README). It is
trained by ``triage distill`` (``trainer.loop.train`` with a ``distill:`` section: its ``Distillation`` strategy):

- labelled training rows: ``alpha`` × temperature-scaled KL to the teacher's soft labels (when the
  soft-label files hold the text) + (1 − ``alpha``) × the usual class-weighted cross-entropy on the gold
  labels, and the auxiliary secondary-category target;
- unlabelled in-domain texts scored by the teacher (``triage teacher --data data/unlabeled/…``): the
  KL term alone;
- with ``feature_weight`` > 0, on every row: the student's mean-pooled encoder output regressed on the
  teacher model's (``teacher_features``; normalized MSE, the share of the teacher features' variance the
  student misses). Soft labels give three probability vectors per text; the pooled representation that
  the heads read gives 384 numbers, and on the unlabelled texts it is the only rich signal. The teacher
  model is the one the student starts from: the fold teacher's ``best/`` or the bundle's model rebuilt.

Soft-label files are ``triage teacher``'s ``*.soft.jsonl`` (``{"id", "text", "soft": {head: {label: p}}}``),
matched to training rows by normalized text. A soft-labelled text that is neither a training row nor
new — a dev text (early stopping, calibration) or a test text — is refused, and so is every text of
the test split (``guard_fitting_rows``). Held-out texts of a labelled row never become unlabelled rows.

Modules: ``teacher`` (the ensemble that writes the soft labels), ``soft_labels`` (reading them and
matching them to training rows; the teacher model's features), ``student`` (the cut model), ``losses``.
Cross-fitting a student (a teacher per fold) is training/crossfit.py; the quality guard a student's
export must pass is training/evaluation/release_guard.py; the options are ``DistillConfig`` in
training/config.py.
"""
