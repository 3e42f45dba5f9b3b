"""Rebuild data/unlabeled/fidelity.jsonl: fresh in-domain texts that no training step reads, for measuring
how closely a distilled student follows the shipped bundle (reports/2026-12-06-student/fidelity.py).

    python data/unlabeled/make_fidelity.py /work/shared/data/raw data/unlabeled/fidelity.jsonl

Why a separate file: a student's soft labels cover the labelled training rows and feedback.jsonl, and dev
chose its epoch, so agreement with the teacher on any of them is in-sample. These texts pass the same
filters as make_unlabeled.py and exclude the whole labelled corpus (test by its manifest's keys) and every
text of feedback.jsonl. The forum comments the test split is richest in are nearly exhausted by the
labelled corpus and feedback.jsonl (491 left), so all of them are kept; the other quotas are large enough
that the rare classes appear a few dozen times (the texts are drawn at random, not for rare vocabulary as
a third of the labelled corpus was). Deterministic for the seed.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_unlabeled import draw, labelled_keys, write_rows  # noqa: E402
from training.data.splits import text_key  # noqa: E402

SEED = 20261207
QUOTAS = {"ccf_bank_review": 600, "icbc_app_review": 2000, "atec_cs_question": 1500, "bq_cs_question": 500,
          "unionpay_faq_question": 500}


def main(raw: str, out: str) -> None:
    root = Path(__file__).resolve().parents[2]
    excluded = labelled_keys(root)
    with open(root / "data/unlabeled/feedback.jsonl", encoding="utf-8") as fh:
        excluded |= {text_key(json.loads(line)["text"]) for line in fh if line.strip()}
    write_rows(out, draw(raw, excluded, QUOTAS, SEED, "f"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
