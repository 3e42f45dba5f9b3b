"""Same text, same answer: a text's labels, confidences (within 1e-4) and review decision do not depend
on what else is in its batch, its position or the batch size — in ``Classifier.predict`` (lanes, the
multi-threaded and the solo sessions), ``triage score`` (whole, shards + ``score-merge``, Ray) and the
service, whose batcher puts concurrent requests into one model call.

The bundles' int8 graphs quantize activations with one scale per token (training/export/token_quantization.py);
before, one scale per batch tensor moved confidences by up to 0.15 with the neighbours (issue 26)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from classifier.batch.score import ScoreOptions, merge_shards, score_file
from classifier.io.tables import read_records, write_table
from classifier.labels import HEADS
from classifier.priority import PriorityMatrix
from classifier.routing import Router
from classifier.runtime import Classifier

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "tests" / "fixtures" / "tiny_bundle"
DEFAULT = ROOT / "models" / "default"
PRIORITY, ROUTING = ROOT / "configs" / "priority.yaml", ROOT / "configs" / "routing.yaml"
TOLERANCE = 1e-4


def dev_texts(n: int) -> list[str]:
    """``n`` dev texts from short to long (padding differs most between them), one long one repeated."""
    rows = [json.loads(line)["text"] for line in (ROOT / "data/labeled/dev.jsonl").read_text(encoding="utf-8").splitlines()]
    rows = sorted(set(rows), key=len)
    step = max(1, len(rows) // n)
    picked = rows[::step][:n - 1]
    return picked + [picked[-1] * 3]  # beyond max_length: truncated, the widest batch there is


def answer(prediction) -> dict:
    return {"labels": {h: prediction.heads[h].label for h in HEADS}, "review": prediction.needs_review,
            "reasons": list(prediction.review_reasons), "secondary": prediction.category_secondary,
            "scores": {h: prediction.heads[h].scores for h in HEADS}}


def assert_same(got: dict, expected: dict, where: str) -> None:
    for key in ("labels", "review", "reasons", "secondary"):
        assert got[key] == expected[key], f"{where}: {key} {got[key]} != {expected[key]}"
    for h in HEADS:
        for label, p in expected["scores"][h].items():
            assert abs(got["scores"][h][label] - p) <= TOLERANCE, f"{where}: {h}.{label} {got['scores'][h][label]} vs {p}"


def shuffled_batches(n: int, rng: random.Random, rounds: int):
    """Index batches: every round a new order cut into batches of 1–64 texts."""
    for _ in range(rounds):
        order = list(range(n))
        rng.shuffle(order)
        while order:
            size = rng.randint(1, 64)
            yield order[:size]
            order = order[size:]


@pytest.fixture(scope="module")
def texts():
    return dev_texts(80)


@pytest.mark.parametrize("threads,solo", [(1, False), (2, False), (2, True)])
def test_a_text_scores_the_same_alone_and_in_shuffled_batches_of_1_to_64(texts, threads, solo):
    # threads=2: calls of several batches run in lanes (one-thread sessions), lone batches on the
    # 2-thread session; solo=True on the wider solo session
    clf = Classifier.load(TINY, threads=threads, solo_threads=4 if solo else 0)
    alone = [answer(clf.predict([t], solo=solo)[0]) for t in texts]
    rng = random.Random(threads * 10 + solo)
    for batch in shuffled_batches(len(texts), rng, rounds=3):
        for i, prediction in zip(batch, clf.predict([texts[i] for i in batch], solo=solo)):
            assert_same(answer(prediction), alone[i], f"text {i} in a batch of {len(batch)}")


def test_padding_to_the_longest_text_changes_nothing(texts):
    clf = Classifier.load(TINY, threads=1, batch_size=64)
    short, longest = texts[0], texts[-1]
    alone = answer(clf.predict([short])[0])
    for k in range(1, 6):  # the short text beside k texts of max_length tokens, at every position
        batch = [longest] * k
        for pos in range(k + 1):
            got = clf.predict(batch[:pos] + [short] + batch[pos:])[pos]
            assert_same(answer(got), alone, f"position {pos} of {k + 1}")


def test_the_shipped_bundle_scores_a_text_the_same_in_any_batch():
    clf = Classifier.load(DEFAULT, threads=2)
    texts = dev_texts(12)
    alone = [answer(clf.predict([t])[0]) for t in texts]
    rng = random.Random(7)
    for batch in shuffled_batches(len(texts), rng, rounds=2):
        for i, prediction in zip(batch, clf.predict([texts[i] for i in batch])):
            assert_same(answer(prediction), alone[i], f"text {i} in a batch of {len(batch)}")


# -- triage score: whole file, shards + score-merge, Ray --------------------------------------------

def scored_rows(path: Path) -> list[dict]:
    rows = []
    for _line, record, problem in read_records(path):
        assert problem is None
        rows.append(record)
    return rows


def assert_same_rows(got: list[dict], expected: list[dict], where: str) -> None:
    assert [str(r["id"]) for r in got] == [str(r["id"]) for r in expected], where
    for a, b in zip(got, expected):
        for key, value in b.items():
            if key.endswith("_confidence") or "_score_" in key:
                assert abs(float(a[key]) - float(value)) <= TOLERANCE, f"{where}, row {b['id']}: {key}"
            elif key in (*HEADS, "needs_review", "review_reasons", "review_heads", "category_secondary",
                         "quadrant", "priority_level", "queue"):
                assert a[key] == value, f"{where}, row {b['id']}: {key} {a[key]!r} != {value!r}"


@pytest.fixture(scope="module")
def parts():
    return Classifier.load(TINY, threads=2), PriorityMatrix.from_yaml(PRIORITY), Router.from_yaml(ROUTING)


@pytest.fixture(scope="module")
def survey(tmp_path_factory, texts):
    src = tmp_path_factory.mktemp("survey") / "in.csv"
    rng = random.Random(3)
    rows = [{"id": f"s{i}", "text": texts[rng.randrange(len(texts))], "channel": "app"} for i in range(120)]
    write_table(src, rows, ["id", "text", "channel"])
    return src


def test_score_gives_each_row_the_same_answer_whole_in_any_chunks_and_in_shards(parts, survey, tmp_path):
    # one text alone per model call: the reference
    score_file(survey, tmp_path / "alone.jsonl", *parts, ScoreOptions(chunk_size=1, scores=True))
    alone = scored_rows(tmp_path / "alone.jsonl")
    for chunk in (7, 64, 256):
        score_file(survey, tmp_path / f"c{chunk}.jsonl", *parts, ScoreOptions(chunk_size=chunk, scores=True))
        assert_same_rows(scored_rows(tmp_path / f"c{chunk}.jsonl"), alone, f"chunks of {chunk}")
    shards = []
    for k in (1, 2, 3):
        shards.append(tmp_path / f"part{k}.jsonl")
        score_file(survey, shards[-1], *parts, ScoreOptions(shard=(k, 3), chunk_size=64, scores=True))
    merge_shards(shards, tmp_path / "merged.jsonl")
    assert_same_rows(scored_rows(tmp_path / "merged.jsonl"), alone, "3 shards merged")


def test_the_ray_engine_gives_each_row_the_same_answer(parts, survey, tmp_path):
    ray = pytest.importorskip("ray", reason="the [distributed] extra (ray[data]) is not installed")
    from classifier.batch.ray_engine import init_ray, score_file_ray

    score_file(survey, tmp_path / "alone.jsonl", *parts, ScoreOptions(chunk_size=1, scores=True))
    started = init_ray(num_cpus=2)
    try:
        score_file_ray(survey, tmp_path / "ray.jsonl", TINY, PRIORITY, ROUTING,
                       ScoreOptions(chunk_size=50, scores=True), actors=2)
    finally:
        if started:
            ray.shutdown()
    assert_same_rows(scored_rows(tmp_path / "ray.jsonl"), scored_rows(tmp_path / "alone.jsonl"), "Ray, 2 actors")
