"""Learning curve: nested stratified subsets, rare-class points on dev."""
from pathlib import Path

from training.data.schema import read_labelled
from training.evaluation.learning_curve import RARE, linear_curve, nested_subsets, write_report

ROOT = Path(__file__).resolve().parents[2]


def test_subsets_are_nested_and_keep_rare_classes():
    rows = read_labelled(ROOT / "data/labeled/train.jsonl")
    subsets = nested_subsets(rows, (0.1, 0.5, 1.0))
    ids = [{r["id"] for r in s} for s in subsets]
    assert ids[0] < ids[1] < ids[2] and len(ids[2]) == len(rows)
    high = [sum(r["urgency"] == "high" for r in s) for s in subsets]
    assert high[0] >= 8 and high[-1] == sum(r["urgency"] == "high" for r in rows)


def test_linear_curve_reports_rare_class_points(tmp_path):
    train = read_labelled(ROOT / "data/labeled/train.jsonl")[:400]
    dev = read_labelled(ROOT / "data/labeled/dev.jsonl")[:150]
    points = linear_curve(train, dev, fractions=(0.5, 1.0))
    assert [p["train_rows"] for p in points][-1] == 400
    for p in points:
        for head, label in RARE:
            assert 0.0 <= p[f"{head}.{label}"]["dev_f1"] <= 1.0
    write_report(points, tmp_path)
    assert (tmp_path / "learning_curve.png").stat().st_size > 0
    assert "train rows" in (tmp_path / "learning_curve.md").read_text(encoding="utf-8")
