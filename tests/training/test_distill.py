"""Distillation on the tiny config: teacher soft labels → `triage distill` → guarded export; the guard's
verdicts; fused int8 export parity."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")

from classifier.cli import main  # noqa: E402
from classifier.labels import HEADS  # noqa: E402
from classifier.runtime import Classifier  # noqa: E402
from training.config import DistillConfig  # noqa: E402
from training.distill.soft_labels import attach_soft_labels, read_soft_labels  # noqa: E402
from training.distill.student import student_layers  # noqa: E402
from training.errors import SoftLabelError  # noqa: E402
from training.evaluation.release_guard import check_student  # noqa: E402
from training.export.bundle import FittingData, export_bundle  # noqa: E402
from training.export.quantize import MIN_AGREEMENT, Quantization  # noqa: E402
from training.modeling.model import load_model  # noqa: E402
from training.run_dir import BEST_DIR  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
TEST_SPLIT = (ROOT / "data" / "labeled" / "test.jsonl").resolve()
DEV = ROOT / "data" / "labeled" / "dev.jsonl"

_OPENED: list[str] = []
_RECORDING = [False]


def _audit(event, args):
    if event == "open" and _RECORDING[0] and isinstance(args[0], (str, Path)):
        _OPENED.append(str(args[0]))


sys.addaudithook(_audit)


def _lines(path: Path, n: int) -> list[str]:
    with open(path, encoding="utf-8") as fh:
        return [line for _, line in zip(range(n), fh)]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory):
    """A tiny teacher run (2 layers) and its soft labels on 96 training rows and 48 unlabelled texts."""
    tmp = tmp_path_factory.mktemp("distill")
    cfg = yaml.safe_load((ROOT / "configs/train-tiny.yaml").read_text())
    cfg.update(train_file=str(ROOT / cfg["train_file"]), dev_file=str(DEV), base_model_dir=str(tmp / "base"),
               output_dir=str(tmp / "teacher"), max_train_rows=96, max_dev_rows=48, epochs=1)
    (tmp / "teacher.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", "--config", str(tmp / "teacher.yaml")]) == 0
    (tmp / "train96.jsonl").write_text("".join(_lines(ROOT / "data/labeled/train.jsonl", 96)), encoding="utf-8")
    (tmp / "unlabeled.jsonl").write_text("".join(_lines(ROOT / "data/unlabeled/feedback.jsonl", 48)), encoding="utf-8")
    assert main(["teacher", "--runs", str(tmp / "teacher"), "--data", str(tmp / "train96.jsonl"),
                 str(tmp / "unlabeled.jsonl"), "--out", str(tmp / "soft")]) == 0
    return tmp


@pytest.fixture(scope="module")
def student(teacher):
    cfg = yaml.safe_load((teacher / "teacher.yaml").read_text())
    for key in ("base_model_dir", "base_layers", "general_vocab"):
        cfg.pop(key)
    cfg.update(output_dir=str(teacher / "student"), max_length=40,
               distill={"teacher_run": str(teacher / "teacher"), "num_layers": 1, "temperature": 2.0, "alpha": 0.5})
    (teacher / "student.yaml").write_text(yaml.safe_dump(cfg))
    _OPENED.clear()
    _RECORDING[0] = True
    try:
        assert main(["distill", "--config", str(teacher / "student.yaml"), "--teacher",
                     str(teacher / "soft/train96.soft.jsonl"), str(teacher / "soft/unlabeled.soft.jsonl")]) == 0
    finally:
        _RECORDING[0] = False
    assert _OPENED and not [p for p in _OPENED if Path(p).resolve() == TEST_SPLIT]
    return teacher / "student"


def test_teacher_members_can_be_bundles(tmp_path):
    """`triage teacher --bundles`: soft labels are the bundle's served probabilities, and labelled files
    get the ensemble's metrics (the guard's reference)."""
    from tests.conftest import TINY_BUNDLE

    (tmp_path / "dev.jsonl").write_text("".join(_lines(DEV, 24)), encoding="utf-8")
    (tmp_path / "unlabeled.jsonl").write_text("".join(_lines(ROOT / "data/unlabeled/feedback.jsonl", 8)), encoding="utf-8")
    assert main(["teacher", "--bundles", str(TINY_BUNDLE), "--data", str(tmp_path / "dev.jsonl"),
                 str(tmp_path / "unlabeled.jsonl"), "--out", str(tmp_path / "soft")]) == 0
    soft = read_soft_labels([tmp_path / "soft" / "unlabeled.soft.jsonl"])
    clf = Classifier.load(TINY_BUNDLE)
    served = clf.predict([r["text"] for r in soft])
    for row, pred in zip(soft, served):
        for h in HEADS:
            assert np.allclose(row["soft"][h], list(pred.heads[h].scores.values()), atol=1e-4)
    metrics = json.loads((tmp_path / "soft" / "dev.metrics.json").read_text())
    assert metrics["ensemble"]["rows"] == 24 and set(metrics) == {"ensemble", str(TINY_BUNDLE)}
    assert main(["teacher", "--data", str(tmp_path / "dev.jsonl"), "--out", str(tmp_path / "none")]) == 1


def test_student_from_the_pretrained_encoder(teacher):
    """`init: base`: the student starts from the base encoder's bottom layers, with a vocabulary that
    also covers the unlabelled texts it learns from."""
    from transformers import AutoTokenizer

    cfg = yaml.safe_load((teacher / "teacher.yaml").read_text())
    cfg.update(output_dir=str(teacher / "student-base"), base_model_dir=str(teacher / "base-student"), epochs=1,
               max_length=40, distill={"init": "base", "layers": [0], "temperature": 2.0, "alpha": 0.5,
                                       "soft_labels": [str(teacher / "soft/train96.soft.jsonl"),
                                                       str(teacher / "soft/unlabeled.soft.jsonl")]})
    (teacher / "student-base.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["distill", "--config", str(teacher / "student-base.yaml")]) == 0
    model = load_model(teacher / "student-base" / BEST_DIR)
    assert model.encoder.config.num_hidden_layers == 1
    unlabelled = [json.loads(line)["text"] for line in (teacher / "unlabeled.jsonl").open(encoding="utf-8")]
    student_vocab = AutoTokenizer.from_pretrained(str(teacher / "base-student")).get_vocab()
    teacher_vocab = AutoTokenizer.from_pretrained(str(teacher / "base")).get_vocab()
    assert len(student_vocab) > len(teacher_vocab)  # the unlabelled texts' pieces are kept
    from classifier.text.normalize import normalize_text

    def unknown(tokenizer_dir: Path) -> int:
        tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
        return sum(i == tok.unk_token_id for t in unlabelled for i in tok(normalize_text(t))["input_ids"])

    assert unknown(teacher / "student-base" / BEST_DIR) < unknown(teacher / "teacher" / BEST_DIR)
    with pytest.raises(Exception):
        DistillConfig.from_dict({"init": "scratch"})


def test_student_from_an_exported_bundle(teacher):
    """`init: bundle`: the student is the bundle's fine-tuned model (rebuilt from its ONNX weights) cut
    to fewer layers, with the bundle's heads and vocabulary."""
    from tests.conftest import TINY_BUNDLE

    cfg = yaml.safe_load((teacher / "teacher.yaml").read_text())
    for key in ("base_layers", "general_vocab"):
        cfg.pop(key)
    cfg.update(output_dir=str(teacher / "student-bundle"), base_model_dir=str(teacher / "from-bundle"), epochs=1,
               max_length=40, distill={"init": "bundle", "teacher_bundle": str(TINY_BUNDLE), "num_layers": 1,
                                       "soft_labels": [str(teacher / "soft/train96.soft.jsonl"),
                                                       str(teacher / "soft/unlabeled.soft.jsonl")]})
    (teacher / "student-bundle.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["distill", "--config", str(teacher / "student-bundle.yaml")]) == 0
    student = load_model(teacher / "student-bundle" / BEST_DIR)
    rebuilt = load_model(teacher / "from-bundle")
    assert student.encoder.config.num_hidden_layers == 1 and rebuilt.encoder.config.num_hidden_layers == 2
    assert student.encoder.config.vocab_size == rebuilt.encoder.config.vocab_size


def test_student_layers_are_evenly_spaced_up_to_the_top():
    assert student_layers(12, 4) == [2, 5, 8, 11]
    assert student_layers(12, 6) == [1, 3, 5, 7, 9, 11]
    assert student_layers(2, 1) == [1]
    assert student_layers(12, 3, layers=[0, 6, 11]) == [0, 6, 11]


def test_distill_trains_a_smaller_student_from_the_teacher(teacher, student):
    model = load_model(student / BEST_DIR)
    assert model.encoder.config.num_hidden_layers == 1
    summary = json.loads((student / "train_summary.json").read_text())
    assert np.isfinite(summary["history"][0]["train_loss"])
    saved = yaml.safe_load((student / "train_config.yaml").read_text())
    assert saved["distill"]["soft_labels"][-1].endswith("unlabeled.soft.jsonl")
    assert (student / "linear.npz").exists()  # the TF-IDF model is fitted as in `triage train`


def test_guarded_export_passes_and_refuses(teacher, student, tmp_path):
    import shutil

    review = tmp_path / "review.yaml"
    review.write_text(yaml.safe_dump({"review": {"recall_targets": {"urgency.high": 0.5}, "recall_margin": 0.0,
                                                 "max_share": 1.0}}))
    rows = sum(1 for line in DEV.open(encoding="utf-8") if line.strip())
    # the release rule from the run's distill section: the ratio, a tiny model's recall and review share
    run = tmp_path / "run"
    shutil.copytree(student, run)
    cfg = yaml.safe_load((run / "train_config.yaml").read_text())
    cfg["distill"].update(guard_recall={"urgency.high": 0.5}, guard_max_review_share=1.0)
    (run / "train_config.yaml").write_text(yaml.safe_dump(cfg))
    student = run

    def metrics(f1: float) -> Path:
        path = tmp_path / f"teacher-{f1}.json"
        path.write_text(json.dumps({"ensemble": {"rows": rows, "heads": {h: {"macro_f1": f1} for h in HEADS}}}))
        return path

    common = ["export", "--run", str(student), "--name", "s", "--min-agreement", "0.5", "--review-config", str(review),
              "--guard-data", str(DEV)]
    # a distilled run is not exported without the teacher to compare it with
    assert main([*common, "--out", str(tmp_path / "none")]) == 1
    assert not (tmp_path / "none").exists()

    out = tmp_path / "ok"
    assert main([*common, "--out", str(out), "--guard-teacher", str(metrics(0.0))]) == 0
    report = json.loads((out / "export_report.json").read_text())
    assert report["quality_guard"]["passed"] and report["num_layers"] == 1
    assert report["quality_guard"]["rule"] == {"ratio": 0.97, "recall": {"urgency.high": 0.5}, "max_review_share": 1.0}
    assert "Release rule against the teacher's metrics" in (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    Classifier.load(out).predict(["花呗怎么还款"])

    from training.errors import StudentBelowTeacher
    from training.pipeline import export_run

    # the teacher's labels beside its metrics (as `triage teacher` writes them): here the gold ones
    from classifier.labels import LABELS

    gold_rows = [json.loads(line) for line in DEV.open(encoding="utf-8") if line.strip()]
    (tmp_path / "t.soft.jsonl").write_text("".join(json.dumps({"id": r["id"], "text": r["text"], "soft": {
        h: {lab: float(lab == r[h]) for lab in LABELS[h]} for h in HEADS}}, ensure_ascii=False) + "\n" for r in gold_rows),
        encoding="utf-8")
    metrics(0.99).rename(tmp_path / "t.metrics.json")
    bad = tmp_path / "bad"
    with pytest.raises(StudentBelowTeacher) as err:
        export_run(student, bad, "s", min_agreement=0.5, review_config=review, guard_data=DEV,
                   guard_teacher=tmp_path / "t.metrics.json")
    assert err.value.code == "E603" and "category macro-F1" in str(err.value) and "× reference 0.9900" in str(err.value)
    assert "paired 95 % interval of the difference" in str(err.value)
    assert not bad.exists() and (tmp_path / "bad.rejected" / "model.onnx").exists()
    verdict = json.loads((tmp_path / "bad.rejected" / "export_report.json").read_text())["quality_guard"]
    assert all(v["delta_ci95"][1] <= 0 for v in verdict["files"][0]["heads"].values())  # against a perfect teacher


def test_a_student_is_not_cross_fitted(teacher, student, tmp_path):
    """Its teacher trained on every training row: a fold student's held-out scores are in-sample (E606),
    both when the fold is trained and when a fold run made before is given to the export."""
    from training.errors import LeakyCrossFit
    from training.pipeline import export_run

    soft = [str(teacher / "soft/train96.soft.jsonl"), str(teacher / "soft/unlabeled.soft.jsonl")]
    assert main(["distill", "--config", str(teacher / "student.yaml"), "--teacher", *soft, "--fold", "0/2"]) == 1
    assert not Path(f"{student}-fold0of2").exists()
    # a fold run made by an older version: its train_config has a distill: section and cv_fold
    fold = tmp_path / "student-fold0of2"
    fold.mkdir()
    cfg = yaml.safe_load((student / "train_config.yaml").read_text())
    (fold / "train_config.yaml").write_text(yaml.safe_dump({**cfg, "cv_folds": 2, "cv_fold": 0}))
    with pytest.raises(LeakyCrossFit) as err:
        export_run(student, tmp_path / "b", "s", min_agreement=0.5, crossfit=[fold], no_guard=True)
    assert err.value.code == "E606" and str(fold) in str(err.value) and "dev" in str(err.value)


def test_a_student_fold_learns_from_its_fold_teacher_alone(teacher, student, tmp_path, capsys):
    """Fold K of a student: the weights and soft labels of fold K of the teacher, checked against the
    held-out rows (E606 for another fold's teacher or the full teacher's soft labels); the export then
    takes the fold for --crossfit."""
    from training.run_dir import FOLD_TEACHER_FILE
    from training.crossfit import refuse_distilled_folds

    assert main(["train", "--config", str(teacher / "teacher.yaml"), "--fold", "0/2"]) == 0
    fold_teacher = Path(f"{teacher / 'teacher'}-fold0of2")
    assert main(["teacher", "--runs", str(fold_teacher), "--data", str(teacher / "train96.jsonl"),
                 str(teacher / "unlabeled.jsonl"), "--out", str(tmp_path / "soft0")]) == 0
    soft0 = [str(tmp_path / "soft0/train96.soft.jsonl"), str(tmp_path / "soft0/unlabeled.soft.jsonl")]
    full = [str(teacher / "soft/train96.soft.jsonl"), str(teacher / "soft/unlabeled.soft.jsonl")]
    config = str(teacher / "student.yaml")
    capsys.readouterr()
    # another fold's teacher: it trained on this fold's held-out rows
    assert main(["distill", "--config", config, "--teacher", *soft0, "--fold", "1/2", "--fold-teacher", str(fold_teacher)]) == 1
    assert "E606" in capsys.readouterr().err
    # the right weights, but soft labels from the teacher that trained on every row
    assert main(["distill", "--config", config, "--teacher", *full, "--fold", "0/2", "--fold-teacher", str(fold_teacher)]) == 1
    err = capsys.readouterr().err
    assert "E606" in err and "its soft labels from" in err
    assert not Path(f"{student}-fold0of2").exists() and not Path(f"{student}-fold1of2").exists()

    assert main(["distill", "--config", config, "--teacher", *soft0, "--fold", "0/2", "--fold-teacher", str(fold_teacher)]) == 0
    fold = Path(f"{student}-fold0of2")
    record = json.loads((fold / FOLD_TEACHER_FILE).read_text())
    assert record["teacher_run"] == str(fold_teacher.resolve()) and record["init"] == "teacher"
    held = np.load(fold / "heldout.npz")["ids"]
    assert record["heldout_rows"] == len(held) == len(np.load(fold_teacher / "heldout.npz")["ids"]) > 0
    refuse_distilled_folds([fold])  # a checked student fold is taken for --crossfit


def _student_metrics(f1: dict, seen: dict, share: float = 0.10) -> dict:
    return {"rows": 100, "heads": {h: {"macro_f1": v} for h, v in f1.items()},
            "review": {"share": share, "seen_recall": {k: {"value": v, "support": 10} for k, v in seen.items()}}}


def test_guard_verdicts():
    """Issue 29's default rule: macro-F1 ≥ 0.97 × the reference per head; seen recall of urgent ≥ 0.95 and
    of contract_legal ≥ 0.90 at ≤ 15 % review."""
    reference = {"rows": 100, "macro_f1": {"category": 0.75, "sentiment": 0.86, "urgency": 0.75}}
    seen = {"urgency.high": 0.95, "category.contract_legal": 0.90}
    at = check_student(_student_metrics({"category": 0.7275, "sentiment": 0.8342, "urgency": 0.7275}, seen, 0.15),
                       reference)  # exactly at every bound
    assert at["passed"] and at["heads"]["category"]["required"] == 0.7275
    low = check_student(_student_metrics({"category": 0.727, "sentiment": 0.9, "urgency": 0.75}, seen), reference)
    assert not low["passed"] and low["failures"] == ["category macro-F1 0.7270 < 0.97 × reference 0.7500 = 0.7275"]
    from training.config import GuardRule

    assert check_student(_student_metrics({"category": 0.727, "sentiment": 0.9, "urgency": 0.75}, seen), reference,
                         GuardRule(ratio=0.95))["passed"]
    f1 = dict(reference["macro_f1"])
    missed = check_student(_student_metrics(f1, {"urgency.high": 0.94, "category.contract_legal": 0.95}), reference)
    assert missed["failures"] == ["seen recall urgency.high 0.940 < 0.950"]
    busy = check_student(_student_metrics(f1, seen, 0.16), reference)
    assert busy["failures"] == ["review share 0.160 > 0.15"]
    assert check_student(_student_metrics(f1, seen, 0.16), reference, GuardRule(max_review_share=0.2))["passed"]


def test_the_rule_is_validated_in_one_place():
    from classifier.errors import ConfigError
    from training.config import GuardRule

    assert DistillConfig().guard_rule() == GuardRule()
    assert DistillConfig(guard_ratio=0.9).guard_rule(0.95).ratio == 0.95  # --guard-ratio wins
    for bad in ({"guard_ratio": 1.2}, {"guard_ratio": 0.0}, {"guard_max_review_share": 0.0},
                {"guard_recall": {"urgency.high": 1.5}}, {"guard_recall": {"urgency.nope": 0.9}}):
        with pytest.raises(ConfigError):
            DistillConfig.from_dict(bad)
    with pytest.raises(ConfigError):
        DistillConfig().guard_rule(1.5)
    # issue 9's absolute tolerance in an earlier run's config is ignored, so that run still exports
    assert DistillConfig.from_dict({"guard_tolerance": 0.01}).guard_rule() == GuardRule()


def _worse_copy(src: Path, dst: Path) -> Path:
    """A copy of bundle ``src`` that predicts from its TF-IDF model alone with every weight negated (its
    least likely class wins): far below ``src`` on every head; the manifest is rewritten so it loads."""
    import shutil

    from classifier.bundle import write_manifest

    shutil.copytree(src, dst)
    cal = json.loads((dst / "calibration.json").read_text())
    cal["blend"] = {h: 0.0 for h in cal["blend"]}
    (dst / "calibration.json").write_text(json.dumps(cal))
    linear = dict(np.load(dst / "linear.npz"))
    np.savez(dst / "linear.npz", **{k: -v if k.endswith((".coef", ".intercept")) else v for k, v in linear.items()})
    manifest = json.loads((dst / "manifest.json").read_text())
    write_manifest(dst, **{k: v for k, v in manifest.items() if k not in ("files", "format_version")})
    return dst


def test_the_release_rule_on_bundles_and_several_guard_files(tmp_path):
    """Against a reference bundle scored on each guard file: a student level with it passes (with the
    review share this tiny bundle needs), one far below is refused on every file with the paired
    intervals, and the default share of 15 % refuses the tiny bundle's 87 % review."""
    import shutil

    from tests.conftest import TINY_BUNDLE
    from training.config import GuardRule
    from training.errors import StudentBelowTeacher
    from training.evaluation.release_guard import enforce, guard_student_bundle

    lines = [line for line in DEV.read_text(encoding="utf-8").splitlines() if line.strip()]
    first, second = tmp_path / "test.jsonl", tmp_path / "test_hard.jsonl"
    first.write_text("\n".join(lines[:120]) + "\n", encoding="utf-8")
    second.write_text("\n".join(lines[120:200]) + "\n", encoding="utf-8")
    lenient = GuardRule(max_review_share=1.0)

    level = shutil.copytree(TINY_BUNDLE, tmp_path / "level")
    ok = guard_student_bundle(level, [first, second], lenient, reference_bundle=TINY_BUNDLE)
    assert ok["passed"] and [v["rows"] for v in ok["files"]] == [120, 80]
    assert all(x["delta_ci95"] == [0.0, 0.0] for v in ok["files"] for x in v["heads"].values())
    enforce(ok, level)
    assert level.exists()

    worse = _worse_copy(TINY_BUNDLE, tmp_path / "worse")
    low = guard_student_bundle(worse, [first, second], lenient, reference_bundle=TINY_BUNDLE)
    assert not low["passed"] and not any(v["passed"] for v in low["files"])
    assert all(v["heads"]["sentiment"]["delta_ci95"][1] < 0 for v in low["files"])  # 80 rows: not every head
    assert all("delta_ci95" in x for v in low["files"] for x in v["heads"].values())
    assert any(f.startswith("test_hard.jsonl: category macro-F1") for f in low["failures"])
    with pytest.raises(StudentBelowTeacher) as err:
        enforce(low, worse)
    assert err.value.code == "E603" and "FAILED" in str(err.value) and (tmp_path / "worse.rejected").exists()

    strict = guard_student_bundle(tmp_path / "level", [first], reference_bundle=TINY_BUNDLE)
    assert not strict["passed"] and strict["failures"][0].startswith("test.jsonl: review share")


def test_the_verdict_carries_the_paired_interval(tmp_path):
    """The teacher's test labels come from the soft-label file beside its metrics; the paired bootstrap
    puts each head's student − teacher interval into the verdict and the refusal, the rule unchanged."""
    from classifier.labels import LABELS
    from training.evaluation.release_guard import teacher_test_labels
    from training.stats import paired_differences

    rng = np.random.default_rng(0)
    gold = {h: rng.integers(0, len(LABELS[h]), 400) for h in HEADS}
    same = paired_differences(gold, gold, gold)
    assert all(same[h] == [0.0, 0.0] for h in HEADS)
    noisy = {h: np.where(rng.random(400) < 0.3, (g + 1) % len(LABELS[h]), g) for h, g in gold.items()}
    worse = paired_differences(gold, gold, noisy)  # a perfect teacher, a student wrong on 30 % of rows
    assert all(hi < 0 for _, hi in worse.values())

    soft = tmp_path / "test.soft.jsonl"
    soft.write_text("".join(json.dumps({"id": f"r{i}", "text": str(i), "soft": {
        h: {lab: float(k == i % len(LABELS[h])) for k, lab in enumerate(LABELS[h])} for h in HEADS}}) + "\n"
        for i in range(3)))
    labels = teacher_test_labels(tmp_path / "test.metrics.json")
    assert labels["sentiment"] == {"r0": 0, "r1": 1, "r2": 2}
    assert teacher_test_labels(tmp_path / "other.metrics.json") is None

    from training.config import GuardRule

    teacher = {"rows": 100, "macro_f1": {"category": 0.75, "sentiment": 0.86, "urgency": 0.75}}
    low = check_student(_student_metrics({"category": 0.70, "sentiment": 0.9, "urgency": 0.75}, {}), teacher,
                        GuardRule(recall={}), differences={"category": [-0.08, -0.02], "sentiment": [0.0, 0.08], "urgency": [-0.03, 0.03]})
    assert not low["passed"] and low["heads"]["category"]["delta_ci95"] == [-0.08, -0.02]
    assert "interval of the difference -0.080 … -0.020" in low["failures"][0]


def test_soft_labels_of_dev_or_test_texts_are_refused(tmp_path):
    from training.errors import TestSplitLeak

    dev = [json.loads(line) for line in _lines(DEV, 3)]
    test = [json.loads(line) for line in _lines(TEST_SPLIT, 2)]
    soft = {h: {lab: 1.0 / n for lab in labs} for h, labs, n in
            [(h, labs, len(labs)) for h, labs in __import__("classifier.labels", fromlist=["LABELS"]).LABELS.items()]}
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps({"text": r["text"], "soft": soft}, ensure_ascii=False) + "\n" for r in dev))
    with pytest.raises(SoftLabelError):
        attach_soft_labels([], [], dev, read_soft_labels([path]))
    path.write_text("".join(json.dumps({"text": r["text"], "soft": soft}, ensure_ascii=False) + "\n" for r in test))
    with pytest.raises(TestSplitLeak):
        attach_soft_labels([], [], [], read_soft_labels([path]))


def test_distill_config_is_checked():
    from classifier.errors import ConfigError

    with pytest.raises(ConfigError):
        DistillConfig.from_dict({"alpha": 1.5})
    with pytest.raises(ConfigError):
        DistillConfig.from_dict({"layerz": [1]})
    with pytest.raises(ConfigError):
        DistillConfig.from_dict({"feature_weight": -1.0})
    with pytest.raises(ConfigError, match="init: teacher or bundle"):
        DistillConfig.from_dict({"init": "base", "feature_weight": 1.0})


def test_feature_distillation_pulls_the_students_representation_to_the_teachers(teacher, tmp_path):
    """With feature_weight the student regresses its pooled output on the teacher model's: after a
    few epochs on the same 96 + 48 texts its features are closer to the teacher's than the features of
    a student trained on the soft labels alone (the normalized MSE that the loss minimizes)."""
    import torch
    from transformers import AutoTokenizer

    from training.distill.losses import feature_loss
    from training.distill.soft_labels import teacher_features
    from training.modeling.inference import predict_logits

    def distil(name: str, feature_weight: float) -> Path:
        cfg = yaml.safe_load((teacher / "student.yaml").read_text())
        cfg.update(output_dir=str(tmp_path / name), epochs=3, patience=3)
        cfg["distill"]["feature_weight"] = feature_weight
        (tmp_path / f"{name}.yaml").write_text(yaml.safe_dump(cfg))
        assert main(["distill", "--config", str(tmp_path / f"{name}.yaml"), "--teacher",
                     str(teacher / "soft/train96.soft.jsonl"), str(teacher / "soft/unlabeled.soft.jsonl")]) == 0
        return tmp_path / name

    with_features, without = distil("features", 5.0), distil("plain", 0.0)
    saved = yaml.safe_load((with_features / "train_config.yaml").read_text())
    assert saved["distill"]["feature_weight"] == 5.0
    texts = [json.loads(line)["text"] for line in (teacher / "unlabeled.jsonl").read_text(encoding="utf-8").splitlines()]
    tokenizer = AutoTokenizer.from_pretrained(str(teacher / "teacher" / BEST_DIR))
    ids = tokenizer(texts, truncation=True, max_length=40)["input_ids"]
    target = teacher_features(teacher / "teacher" / BEST_DIR, ids, tokenizer.pad_token_id)
    assert target.features.shape[0] == len(texts) and target.variance > 0

    def distance(run: Path) -> float:
        pooled = predict_logits(load_model(run / BEST_DIR), ids, tokenizer.pad_token_id, keys=("pooled",))["pooled"]
        return float(feature_loss(torch.from_numpy(pooled), target.features, target.variance))

    assert distance(with_features) < distance(without)
    assert float(feature_loss(torch.from_numpy(target.features), target.features, target.variance)) == 0.0


def test_fused_int8_export_keeps_parity(teacher, tmp_path):
    report = export_bundle(teacher / "teacher" / BEST_DIR, tmp_path / "fused", FittingData(DEV),
                           train_config={"max_length": 48}, quantization=Quantization(fuse=True))
    assert {"Attention", "SkipLayerNormalization", "BiasGelu"} <= set(report["fused"])
    assert report["parity"]["min_label_agreement"] >= MIN_AGREEMENT
    config = json.loads((tmp_path / "fused" / "config.json").read_text())
    assert config["fused"]["Attention"] == 2 and config["num_layers"] == 2
    import onnx

    ops = {n.op_type for n in onnx.load(str(tmp_path / "fused" / "model.onnx")).graph.node}
    assert {"QEmbedLayerNormalization", "SkipLayerNormalization", "BiasGelu"} <= ops
    # a fused Attention stays fp32: its int8 form (QAttention) quantizes per batch inside the operator,
    # which would make a text's scores depend on its batch (training/export/token_quantization.py)
    assert "Attention" in ops and "QAttention" not in ops
    # the fp32 fused graph is exact
    fp32 = export_bundle(teacher / "teacher" / BEST_DIR, tmp_path / "fp32", FittingData(DEV),
                         train_config={"max_length": 48}, quantization=Quantization(int8=False, fuse=True, min_agreement=0.999))
    assert max(fp32["parity"][h]["max_prob_diff"] for h in HEADS) < 1e-3
