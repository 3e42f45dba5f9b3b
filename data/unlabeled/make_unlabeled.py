"""Rebuild data/unlabeled/feedback.jsonl from the maintainers' raw public sources (shared/data/raw/).

    python data/unlabeled/make_unlabeled.py /work/shared/data/raw data/unlabeled/feedback.jsonl

Unlabelled in-domain texts for distillation (the teacher scores them, the student learns its scores).
Deterministic for the seed. Excluded: every text of the labelled corpus — train and dev by their texts,
test by the text keys its split manifest lists (this script never opens the test file) — compared after
`classifier.text.normalize.normalize_text`; duplicates (also after normalization); texts with fewer than 4
CJK characters (spam, emoji-only reviews) or over 300 characters. Quotas per source keep the file small.
"""
from __future__ import annotations

import csv
import gzip
import json
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from classifier.text.normalize import normalize_text  # noqa: E402
from training.data.splits import load_test_keys, text_key  # noqa: E402

SEED = 20261206
# source name (as in the labelled `source` field) -> texts kept at most
QUOTAS = {"icbc_app_review": 7000, "atec_cs_question": 6000, "ccf_bank_review": 4000, "bq_cs_question": 3000,
          "unionpay_faq_question": 2000}
CJK = re.compile(r"[\u4e00-\u9fff]")


def read_sources(raw: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {k: [] for k in QUOTAS}
    for name in ("Apple_工商银行.txt", "360_工商银行.txt"):
        out["icbc_app_review"] += (raw / "icbc-app-reviews" / name).read_text(encoding="utf-8").splitlines()
    atec = raw / "atec-antfin-cs-questions"
    lines = (atec / "atec_nlp_sim_train.csv").read_text(encoding="utf-8-sig").splitlines()
    with gzip.open(atec / "atec_nlp_sim_train_add.csv.gz", "rt", encoding="utf-8-sig") as fh:
        lines += fh.read().splitlines()
    for line in lines:
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] != "id":
            out["atec_cs_question"] += [parts[1].lstrip("\ufeff"), parts[2]]
    for name in ("dev.csv", "test.csv"):
        with open(raw / "bq-corpus-webank" / name, encoding="utf-8-sig", newline="") as fh:
            for row in csv.DictReader(fh):
                out["bq_cs_question"] += [row["sentence1"], row["sentence2"]]
    for name in ("train_data_public.csv", "test_public.csv"):
        with open(raw / "ccf-bdci2021-bank-reviews" / name, encoding="utf-8-sig", newline="") as fh:
            out["ccf_bank_review"] += [row["text"] for row in csv.DictReader(fh)]
    for line in (raw / "unionpay-cs-faq" / "data.txt").read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("question :"):
            out["unionpay_faq_question"].append(line.split(":", 1)[1].strip().lstrip("\ufeff"))
    return out


def labelled_keys(root: Path) -> set[str]:
    """Text keys of the whole labelled corpus: train and dev by their texts, test and test_hard by the manifest."""
    excluded = set(load_test_keys(root / "data/labeled/manifest.json"))
    for split in ("train", "dev"):
        with open(root / f"data/labeled/{split}.jsonl", encoding="utf-8") as fh:
            excluded |= {text_key(json.loads(line)["text"]) for line in fh if line.strip()}
    return excluded


def eligible(texts: list[str], excluded: set[str], seen: set[str]) -> tuple[list[str], int]:
    """The texts that pass the length filters and are neither excluded nor already seen (``seen`` grows),
    in their order, and how many were dropped as excluded."""
    candidates, dropped = [], 0
    for t in texts:
        t = t.strip()
        norm = normalize_text(t)
        if len(CJK.findall(norm)) < 4 or len(norm) > 300:
            continue
        key = text_key(t)
        if key in excluded:
            dropped += 1
            continue
        if key in seen:
            continue
        seen.add(key)
        candidates.append(t)
    return candidates, dropped


def draw(raw: str | Path, excluded: set[str], quotas: dict[str, int], seed: int, prefix: str) -> list[dict]:
    """Up to ``quotas[source]`` eligible texts per source, shuffled with ``seed``, as rows with ids
    ``PREFIX-<source>-NNNNN``; prints what each source had and kept."""
    seen = set(excluded)
    rng = random.Random(seed)
    rows, stats = [], {}
    for source, texts in read_sources(Path(raw)).items():
        candidates, dropped = eligible(texts, excluded, seen)
        rng.shuffle(candidates)
        kept = candidates[: quotas[source]]
        stats[source] = {"raw": len(texts), "excluded": dropped, "eligible": len(candidates), "kept": len(kept)}
        rows += [{"id": f"{prefix}-{source}-{i:05d}", "text": t, "source": source} for i, t in enumerate(kept)]
    print(json.dumps({"rows": len(rows), "sources": stats}, indent=1))
    return rows


def write_rows(out: str | Path, rows: list[dict]) -> None:
    with open(out, "w", encoding="utf-8", newline="\n") as fh:
        for r in rows:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")


def main(raw: str, out: str) -> None:
    write_rows(out, draw(raw, labelled_keys(Path(__file__).resolve().parents[2]), QUOTAS, SEED, "u"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
