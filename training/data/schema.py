"""Labelled data: one schema, readers for JSONL/CSV/Excel/Parquet, validation, provenance.

Schema of a labelled row (every reader returns exactly these keys):

==================== ========================================================================
``id``               unique, non-empty string (numbers in Excel/Parquet/JSON become strings); a
                     file without an id column (none mapped) gets ``FILESTEM-LINE``
``text``             non-empty, at most ``MAX_TEXT_CHARS`` characters, kept exactly as given
                     (normalization is the model pipeline's job, ``classifier.text.normalize``)
``category``         one of ``classifier.labels.CATEGORY``, or its Chinese name (产品及服务质量…, as
                     ``triage score --labels zh`` writes; ``classifier.labels.canonical_label``)
``category_secondary`` optional; a category different from ``category``, else ``None``
``sentiment``        one of ``classifier.labels.SENTIMENT``
``urgency``          one of ``classifier.labels.URGENCY``
``source``           optional string, else ``None``
==================== ========================================================================

The format follows the file extension (``.jsonl``, ``.csv``, ``.xlsx``, ``.parquet``); the readers
are ``classifier.io.tables``, shared with batch scoring. A row problem is reported as
``line N: field: reason`` (line numbering: ``classifier.io.tables``). File-level failures (unknown
extension, bytes that are not UTF-8, a file that cannot be opened) raise the matching
``TriageError`` instead.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from classifier.errors import DataError, InvalidData, require
from classifier.labels import CATEGORY, LABELLED_FIELDS, LABELS, canonical_label
from classifier.io.tables import RowProblem, is_missing, read_records

FIELDS = LABELLED_FIELDS
# kept when present: how an active-learning round chose the row (data round 4's ``selection``); such
# rows are not a sample of traffic, so rates of traffic are not fitted on them (training/crossfit.py)
SELECTION_FIELD = "selection"
REQUIRED = ("id", "text", "category", "sentiment", "urgency")
MAX_TEXT_CHARS = 10_000
REVIEW_SOURCE_PREFIX = "review:"  # serving/review/store.py export_rows


# --- public API ------------------------------------------------------------------------------
def is_traffic(row: dict) -> bool:
    """Whether a labelled row is a sample of traffic: not chosen by an active-learning round."""
    return not row.get(SELECTION_FIELD)


def read_labelled(path: str | Path, column_map: dict[str, str] | None = None) -> list[dict]:
    """Read and validate a labelled file; raises ``InvalidData`` listing every problem."""
    rows, problems = load_labelled(path, column_map)
    if problems:
        raise InvalidData(f"{path}: {len(problems)} problems in labelled data", details=[str(p) for p in problems])
    return rows


def is_review_row(row: dict) -> bool:
    """A supervisor's decision exported by `triage review export` (source ``review:<model>``)."""
    return (row.get("source") or "").startswith(REVIEW_SOURCE_PREFIX)


def read_labelled_files(paths: Iterable[str | Path]) -> list[dict]:
    """The rows of several labelled files, in order; an id in two files is a problem too, except
    for review exports: a decision exported again (revised, or in a later export) replaces the
    earlier row in place, so list exports oldest first and the later decision wins."""
    rows: list[dict] = []
    seen: dict[str, str] = {}  # id -> file
    at: dict[str, int] = {}  # id -> index in rows
    problems: list[str] = []
    for path in paths:
        for row in read_labelled(path):
            if row["id"] in seen:
                earlier = rows[at[row["id"]]]
                if is_review_row(row) and is_review_row(earlier):
                    rows[at[row["id"]]] = row
                    seen[row["id"]] = str(path)
                    continue
                problems.append(f"{path}: id {row['id']!r} is also in {seen[row['id']]}")
            seen.setdefault(row["id"], str(path))
            at.setdefault(row["id"], len(rows))
            rows.append(row)
    if problems:
        raise InvalidData(f"{len(problems)} ids occur in more than one training file", details=problems)
    return rows


def validate_file(path: str | Path, column_map: dict[str, str] | None = None) -> list[RowProblem]:
    """Every row problem of a labelled file (empty when it is clean); never raises ``InvalidData``."""
    return load_labelled(path, column_map)[1]


def load_labelled(
    path: str | Path, column_map: dict[str, str] | None = None, notes: list[str] | None = None
) -> tuple[list[dict], list[RowProblem]]:
    """The valid rows of a labelled file (schema dicts) and the problems of the others.

    ``column_map`` maps a schema field to the file's column (or JSON key) holding it, e.g.
    ``{"text": "content", "category": "类别"}``; unmapped fields use their own name. A file with no
    id column at all (and none mapped: the documented ``--map text=content`` example has none) gets
    ids ``FILESTEM-LINE``, said in ``notes``; a mapped id column that is missing is still a problem.
    """
    columns = _columns(column_map)
    required = [f for f in REQUIRED if f != "id" or "id" in (column_map or {})]
    records = list(read_records(path, {field: columns[field] for field in required}))
    header_problem = any(problem is not None and problem.header for _, _, problem in records)
    if "id" not in required and not header_problem and not any(
            columns["id"] in record for _, record, problem in records if problem is None):
        stem = Path(path).stem
        records = [(line, {**record, columns["id"]: f"{stem}-{line}"} if problem is None else record, problem)
                   for line, record, problem in records]
        if notes is not None:
            notes.append(f"no {columns['id']!r} column: rows are identified as {stem}-LINE")

    rows: list[dict] = []
    problems: list[RowProblem] = []
    first_line: dict[str, int] = {}  # id -> line where it was first seen
    at: dict[str, int] = {}  # id -> index of its row in rows
    for line, record, problem in records:
        if problem is not None:
            problems.append(problem)
            continue
        row, row_problems = _check_row(line, record, columns)
        row_id = row["id"]
        if row_id is not None and row_id in first_line:
            earlier = at.get(row_id)
            if not row_problems and earlier is not None and is_review_row(row) and is_review_row(rows[earlier]):
                rows[earlier] = row  # the same item's later decision wins
                continue
            row_problems.append(RowProblem(line, "id", f"duplicate id {row_id!r} (first on line {first_line[row_id]})"))
        elif row_id is not None:
            first_line[row_id] = line
        problems.extend(row_problems)
        if not row_problems:
            if row_id is not None:
                at[row_id] = len(rows)
            rows.append(row)
    if not rows and not problems:
        problems.append(RowProblem(0, "file", "no data rows"))
    return rows, problems


def label_distribution(rows: Iterable[dict]) -> dict[str, dict[str, int]]:
    """Counts per label for each head, in label order (zeros included)."""
    counts = {head: Counter() for head in LABELS}
    for row in rows:
        for head in LABELS:
            counts[head][row[head]] += 1
    return {head: {label: counts[head][label] for label in labels} for head, labels in LABELS.items()}


def to_dataset(rows: list[dict]):
    """A Hugging Face ``datasets.Dataset`` of schema rows; label columns are ``ClassLabel``s.

    ``category_secondary`` uses the category names and is null where absent.
    """
    datasets = require("datasets", "train")
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "text": datasets.Value("string"),
            "category": datasets.ClassLabel(names=list(LABELS["category"])),
            "category_secondary": datasets.ClassLabel(names=list(LABELS["category"])),
            "sentiment": datasets.ClassLabel(names=list(LABELS["sentiment"])),
            "urgency": datasets.ClassLabel(names=list(LABELS["urgency"])),
            "source": datasets.Value("string"),
        }
    )
    return datasets.Dataset.from_list([{f: r.get(f) for f in FIELDS} for r in rows], features=features)


def data_version(paths: str | Path | Iterable[str | Path]) -> str:
    """First 16 hex digits of the sha256 of the files' bytes, concatenated in the given order.

    For one file this equals ``sha256sum FILE | cut -c1-16``; for several,
    ``cat A B | sha256sum | cut -c1-16``.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    digest = hashlib.sha256()
    for p in paths:
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


# --- validation -------------------------------------------------------------------------------
def _columns(column_map: dict[str, str] | None) -> dict[str, str]:
    """Schema field -> column name in the file."""
    column_map = dict(column_map or {})
    unknown = sorted(set(column_map) - set(FIELDS))
    if unknown:
        raise DataError(
            f"unknown field(s) in column map: {', '.join(unknown)}; fields are {', '.join(FIELDS)}"
        )
    return {f: column_map.get(f, f) for f in FIELDS}


def _as_str(value: Any) -> str | None:
    """A scalar cell as a string (1.0 from a spreadsheet becomes "1"); ``None`` if not a scalar."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, (int, float)):
        return str(value)
    return None


def _check_row(line: int, record: dict, columns: dict[str, str]) -> tuple[dict, list[RowProblem]]:
    problems: list[RowProblem] = []
    row: dict[str, Any] = {}

    def problem(field: str, reason: str) -> None:
        problems.append(RowProblem(line, field, reason))

    for field in FIELDS:
        value = record.get(columns[field])
        if is_missing(value):
            row[field] = None
            continue
        text = _as_str(value)
        if text is None:
            problem(field, f"expected a string, got {type(value).__name__}")
            row[field] = None
            continue
        # Text is kept exactly as given; ids, labels and sources lose surrounding blanks.
        text = text if field == "text" else text.strip()
        row[field] = text if (field == "text" or text) else None

    selection = record.get(SELECTION_FIELD)
    selection = None if is_missing(selection) else (_as_str(selection) or "").strip()
    if selection:
        row[SELECTION_FIELD] = selection

    if row["id"] is None and not any(p.field == "id" for p in problems):
        problem("id", "missing id")

    text = row["text"]
    if text is None:
        if not any(p.field == "text" for p in problems):
            problem("text", "missing text")
    elif not text.strip():
        problem("text", "empty or whitespace-only text")
    elif len(text) > MAX_TEXT_CHARS:
        problem("text", f"too long ({len(text):,} characters; at most {MAX_TEXT_CHARS:,})")

    for field in (*LABELS, "category_secondary"):  # Chinese display names back to label names
        if row[field] is not None:
            row[field] = canonical_label(field, row[field])

    for head, labels in LABELS.items():
        label = row[head]
        if label is None:
            if not any(p.field == head for p in problems):
                problem(head, "missing label")
        elif label not in labels:
            problem(head, f"unknown label {label!r}; expected one of {', '.join(labels)}")

    secondary = row["category_secondary"]
    if secondary is not None:
        if secondary not in CATEGORY:
            problem("category_secondary", f"unknown label {secondary!r}; expected one of {', '.join(CATEGORY)} or empty")
        elif secondary == row["category"]:
            problem("category_secondary", f"same as category ({secondary!r})")
    return row, problems
