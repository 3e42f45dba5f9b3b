"""Labelled data: one schema, readers for JSONL/CSV/Excel/Parquet, validation.

Schema of a labelled row: ``id`` (unique string), ``text`` (non-empty), ``category``,
``category_secondary`` (optional), ``sentiment``, ``urgency`` (labels from ``classifier.labels``),
``source`` (optional).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from classifier.errors import InvalidData
from classifier.labels import LABELS


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


def read_labelled(path: str | Path) -> list[dict]:
    """Read and validate a labelled file; raises ``InvalidData`` listing every bad row."""
    rows, problems = [], []
    seen: set[str] = set()
    for line_no, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        for head, labels in LABELS.items():
            if row.get(head) not in labels:
                problems.append(RowProblem(line_no, head, f"unknown label {row.get(head)!r}"))
        if not str(row.get("text") or "").strip():
            problems.append(RowProblem(line_no, "text", "missing text"))
        if row.get("id") in seen:
            problems.append(RowProblem(line_no, "id", f"duplicate id {row.get('id')!r}"))
        seen.add(row.get("id"))
        rows.append(row)
    if problems:
        raise InvalidData(f"{path}: {len(problems)} invalid rows", details=[str(p) for p in problems])
    return rows
