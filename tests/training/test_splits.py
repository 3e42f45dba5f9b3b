"""The fixed data split: reproducible from the maintainers' files, disjoint, test kept out of fitting."""
import hashlib
import json
from pathlib import Path

import pytest

from classifier.cli import main
from training.data.schema import read_labelled
from training.data.splits import SplitRecipe, check_disjoint, guard_fitting_rows, load_test_keys, make_splits, text_key
from training.errors import TestSplitLeak

ROOT = Path(__file__).resolve().parents[2]
LABELED = ROOT / "data" / "labeled"
MANIFEST = LABELED / "manifest.json"


def rows(name):
    return read_labelled(LABELED / f"{name}.jsonl")


def test_committed_split_is_reproduced_byte_for_byte(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(["data", "split", "--out", str(tmp_path)]) == 0
    for name in ("train", "dev", "test", "test_hard"):
        assert hashlib.sha256((tmp_path / f"{name}.jsonl").read_bytes()).hexdigest() == \
            hashlib.sha256((LABELED / f"{name}.jsonl").read_bytes()).hexdigest(), name
    ours, committed = json.loads((tmp_path / "manifest.json").read_text()), json.loads(MANIFEST.read_text())
    assert ours["test_text_keys"] == committed["test_text_keys"]
    assert ours["test_hard_text_keys"] == committed["test_hard_text_keys"]


def test_splits_are_disjoint_and_test_is_stratified():
    splits = {name: rows(name) for name in ("train", "dev", "test")}
    assert check_disjoint(splits) == []
    splits["train"] = [r for r in splits["train"] if r["id"] not in ROUND4]  # the representative pool
    total = sum(len(v) for v in splits.values())
    assert 0.14 <= len(splits["test"]) / total <= 0.16
    # the rare classes get their full share (medium falls short: the rows the previous bundle never
    # trained on hold fewer medium items than 15 % of the pool; the manifest records it)
    for head, label in (("urgency", "high"), ("category", "contract_legal"), ("category", "other")):
        n = sum(r[head] == label for v in splits.values() for r in v)
        assert abs(sum(r[head] == label for r in splits["test"]) - 0.15 * n) <= 1.5, label
    # test holds no row the previous bundle trained on (the maintainers' train file)
    maintainers_train = {r["id"] for r in read_labelled(ROOT / "data/maintainers/train.jsonl")}
    assert not maintainers_train & {r["id"] for r in splits["test"]}
    manifest = json.loads(MANIFEST.read_text())
    assert sorted(text_key(r["text"]) for r in splits["test"]) == manifest["test_text_keys"]


ROUND4 = {r["id"] for r in read_labelled(ROOT / "data/maintainers/round4.jsonl")}


def test_round4_is_split_into_test_hard_and_train_only_and_stratified():
    """Round 4 was chosen by a model: none of it in test or dev; 20 % of each urgency × category class
    held out as test_hard, the rest in train; train/dev/test of the pool unchanged by it."""
    splits = {name: rows(name) for name in ("train", "dev", "test", "test_hard")}
    assert check_disjoint(splits) == []
    assert {r["id"] for r in splits["test_hard"]} <= ROUND4
    assert not ROUND4 & {r["id"] for name in ("dev", "test") for r in splits[name]}
    assert ROUND4 == {r["id"] for r in splits["test_hard"]} | ({r["id"] for r in splits["train"]} & ROUND4)
    round4 = read_labelled(ROOT / "data/maintainers/round4.jsonl")
    for key in {(r["urgency"], r["category"]) for r in round4}:
        n = sum((r["urgency"], r["category"]) == key for r in round4)
        held = sum((r["urgency"], r["category"]) == key for r in splits["test_hard"])
        assert abs(held - 0.2 * n) <= 1, key
    # the representative rows come first in train, in the order they had before round 4
    pool_train = [r["id"] for r in splits["train"] if r["id"] not in ROUND4]
    assert [r["id"] for r in splits["train"][: len(pool_train)]] == pool_train
    # nothing of round 4 is in the texts that measure students, or twice in the corpus
    fresh = set(_keys(ROOT / "data/unlabeled/fidelity.jsonl"))
    assert not fresh & {text_key(r["text"]) for r in round4}
    manifest = json.loads(MANIFEST.read_text())
    assert sorted(text_key(r["text"]) for r in splits["test_hard"]) == manifest["test_hard_text_keys"]
    assert manifest["splits"]["test_hard"]["rows"] == len(splits["test_hard"]) == 600


def test_fitting_on_test_hard_rows_is_refused():
    with pytest.raises(TestSplitLeak) as err:
        guard_fitting_rows(rows("train") + rows("test_hard")[:2], "training data", MANIFEST)
    assert err.value.code == "E602" and err.value.details["rows"] == 2


def test_make_splits_is_seeded_and_only_draws_test_from_candidates():
    pool = [{"id": f"r{i}", "text": f"文本{i}", "category": "fees" if i % 5 else "other", "urgency": "low",
             "sentiment": "neutral", "source": "a" if i % 2 else "b", "category_secondary": None} for i in range(400)]
    candidates = {r["id"] for r in pool[:200]}
    a = make_splits(pool, candidates, SplitRecipe(seed=1))
    b = make_splits(pool, candidates, SplitRecipe(seed=1))
    c = make_splits(pool, candidates, SplitRecipe(seed=2))
    assert a == b and a != c
    assert {r["id"] for r in a["test"]} <= candidates and len(a["test"]) == 60 and len(a["dev"]) == 40


def test_fitting_on_test_rows_is_refused():
    test_rows = rows("test")
    with pytest.raises(TestSplitLeak) as err:
        guard_fitting_rows(rows("train") + test_rows[:3], "training data", MANIFEST)
    assert err.value.code == "E602" and err.value.details["rows"] == 3
    guard_fitting_rows(rows("train") + rows("dev"), "training data", MANIFEST)  # no error


def _keys(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as fh:
        return [text_key(json.loads(line)["text"]) for line in fh if line.strip()]


def test_unlabelled_texts_share_no_text_with_the_labelled_corpus_or_each_other():
    """feedback.jsonl is what a student trains on, fidelity.jsonl what measures it against the bundle
    (data/README.md): a text in the labelled corpus (test by its manifest's keys) or in both files would
    make the measurement in-sample."""
    labelled = set(load_test_keys(ROOT / "data/labeled/manifest.json"))
    for split in ("train", "dev"):
        labelled |= {text_key(r["text"]) for r in read_labelled(ROOT / f"data/labeled/{split}.jsonl")}
    transfer = _keys(ROOT / "data/unlabeled/feedback.jsonl")
    fresh = _keys(ROOT / "data/unlabeled/fidelity.jsonl")
    assert len(transfer) == len(set(transfer)) == 20910 and len(fresh) == len(set(fresh)) > 4000
    assert not labelled & set(transfer)
    assert not labelled & set(fresh)
    assert not set(transfer) & set(fresh)
