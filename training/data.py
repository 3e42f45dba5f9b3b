"""Labelled data: one schema, readers for JSONL/CSV/Excel/Parquet, validation, provenance.

Schema of a labelled row (every reader returns exactly these keys):

==================== ========================================================================
``id``               unique, non-empty string (numbers in Excel/Parquet/JSON become strings)
``text``             non-empty, at most ``MAX_TEXT_CHARS`` characters, kept exactly as given
                     (normalization is the model pipeline's job, ``classifier.normalize``)
``category``         one of ``classifier.labels.CATEGORY``
``category_secondary`` optional; a category different from ``category``, else ``None``
``sentiment``        one of ``classifier.labels.SENTIMENT``
``urgency``          one of ``classifier.labels.URGENCY``
``source``           optional string, else ``None``
==================== ========================================================================

The format follows the file extension (``.jsonl``, ``.csv``, ``.xlsx``, ``.parquet``). A row
problem is reported as ``line N: field: reason`` where N is the 1-based physical line of a JSONL
or CSV file (the CSV header is line 1, so the first data row is line 2), the spreadsheet row of
an Excel file (header row 1) and the 1-based row of a Parquet file; line 0 means the file as a
whole. File-level failures (unknown extension, bytes that are not UTF-8, a file that cannot be
opened) raise the matching ``TriageError`` instead.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from classifier.errors import BadEncoding, DataError, InvalidData, UnsupportedFormat, require
from classifier.labels import CATEGORY, LABELS

FIELDS = ("id", "text", "category", "category_secondary", "sentiment", "urgency", "source")
REQUIRED = ("id", "text", "category", "sentiment", "urgency")
MAX_TEXT_CHARS = 10_000
FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".xlsx": "excel", ".parquet": "parquet"}


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


# --- public API ------------------------------------------------------------------------------
def read_labelled(path: str | Path, column_map: dict[str, str] | None = None) -> list[dict]:
    """Read and validate a labelled file; raises ``InvalidData`` listing every problem."""
    rows, problems = load_labelled(path, column_map)
    if problems:
        raise InvalidData(f"{path}: {len(problems)} problems in labelled data", details=[str(p) for p in problems])
    return rows


def validate_file(path: str | Path, column_map: dict[str, str] | None = None) -> list[RowProblem]:
    """Every row problem of a labelled file (empty when it is clean); never raises ``InvalidData``."""
    return load_labelled(path, column_map)[1]


def load_labelled(
    path: str | Path, column_map: dict[str, str] | None = None
) -> tuple[list[dict], list[RowProblem]]:
    """The valid rows of a labelled file (schema dicts) and the problems of the others.

    ``column_map`` maps a schema field to the file's column (or JSON key) holding it, e.g.
    ``{"text": "content", "category": "类别"}``; unmapped fields use their own name.
    """
    path = Path(path)
    columns = _columns(column_map)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedFormat(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(FORMATS)}"
        )
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    reader = {"jsonl": _jsonl_records, "csv": _csv_records, "excel": _excel_records, "parquet": _parquet_records}[fmt]

    rows: list[dict] = []
    problems: list[RowProblem] = []
    first_line: dict[str, int] = {}  # id -> line where it was first seen
    for line, record, problem in reader(path, columns):
        if problem is not None:
            problems.append(problem)
            continue
        row, row_problems = _check_row(line, record, columns)
        row_id = row["id"]
        if row_id is not None and row_id in first_line:
            row_problems.append(RowProblem(line, "id", f"duplicate id {row_id!r} (first on line {first_line[row_id]})"))
        elif row_id is not None:
            first_line[row_id] = line
        problems.extend(row_problems)
        if not row_problems:
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


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


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
        if _missing(value):
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


# --- readers: each yields (line, record, None) or (line, None, problem) ----------------------------
Record = Iterator[tuple[int, dict | None, RowProblem | None]]


def _decode_utf8(path: Path) -> str:
    """The file's text; a UTF-8 BOM is allowed, any other non-UTF-8 byte raises ``BadEncoding``."""
    data = path.read_bytes()
    start = 3 if data.startswith(b"\xef\xbb\xbf") else 0
    try:
        return data[start:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = start + exc.start
        line = data.count(b"\n", 0, offset) + 1
        bad = data[offset : offset + min(4, exc.end - exc.start + 2)].hex(" ")
        raise BadEncoding(
            f"{path}: not valid UTF-8 at line {line}, byte offset {offset} (bytes {bad}); save the file as UTF-8",
            details={"line": line, "byte_offset": offset},
        ) from None


def _jsonl_records(path: Path, columns: dict[str, str]) -> Record:
    # split("\n"), not splitlines(): U+2028 and friends may appear raw inside JSON strings.
    for line_no, line in enumerate(_decode_utf8(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield line_no, None, RowProblem(line_no, "json", f"malformed JSON: {exc.msg} (column {exc.colno})")
            continue
        if not isinstance(record, dict):
            yield line_no, None, RowProblem(line_no, "json", f"expected a JSON object, got {type(record).__name__}")
            continue
        yield line_no, record, None


def _header_problems(header: list, columns: dict[str, str], line: int) -> list[RowProblem]:
    present = {str(h).strip() for h in header if h is not None}
    return [
        RowProblem(line, field, f"column {columns[field]!r} not found (columns: {', '.join(sorted(present)) or 'none'})")
        for field in REQUIRED
        if columns[field] not in present
    ]


def _table_records(header: list, body: Iterable[tuple[int, list]], columns: dict[str, str], header_line: int) -> Record:
    """Shared by CSV and Excel: check the header once, then one record per non-blank row."""
    problems = _header_problems(header, columns, header_line)
    if problems:  # the rows cannot be checked against a missing column: report the header only
        for p in problems:
            yield header_line, None, p
        return
    names = [None if h is None else str(h).strip() for h in header]
    for line, values in body:
        if all(_missing(v) or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if len(values) > len(names):
            yield line, None, RowProblem(line, "row", f"{len(values)} fields but the header has {len(names)}")
            continue
        yield line, {n: v for n, v in zip(names, values) if n is not None}, None


def _csv_records(path: Path, columns: dict[str, str]) -> Record:
    reader = csv.reader(io.StringIO(_decode_utf8(path), newline=""))
    header = next(reader, None)
    if header is None:
        return

    def body() -> Iterator[tuple[int, list]]:
        start = reader.line_num + 1  # a quoted field may span lines: report where the record starts
        for values in reader:
            yield start, [v if v != "" else None for v in values]
            start = reader.line_num + 1

    try:
        yield from _table_records(header, body(), columns, header_line=1)
    except csv.Error as exc:
        yield reader.line_num, None, RowProblem(reader.line_num, "csv", f"malformed CSV: {exc}")


def _excel_records(path: Path, columns: dict[str, str]) -> Record:
    openpyxl = require("openpyxl", "train")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a corrupt or mislabelled file: zipfile, XML and openpyxl errors alike
        raise DataError(f"{path}: cannot read as an Excel workbook: {exc}") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return
        yield from _table_records(list(header), ((n, list(v)) for n, v in enumerate(rows, 2)), columns, header_line=1)
    finally:
        workbook.close()


def _parquet_records(path: Path, columns: dict[str, str]) -> Record:
    pq = require("pyarrow.parquet", "train")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt or non-Parquet file
        raise DataError(f"{path}: cannot read as Parquet: {exc}") from None
    problems = _header_problems(table.column_names, columns, line=0)
    if problems:
        for p in problems:
            yield 0, None, p
        return
    for row_no, record in enumerate(table.to_pylist(), 1):
        yield row_no, record, None
