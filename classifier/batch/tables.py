"""Tabular files in and out: JSONL, CSV, Excel (.xlsx) and Parquet, chosen by file extension.

Readers are shared by labelled-data validation (``training.data``) and batch scoring
(``classifier.batch.score``). Each yields ``(line, record, None)`` for a row or ``(line, None, problem)``
for a row that cannot be read, so a caller can report every bad row instead of stopping at the
first. ``line`` is the 1-based physical line of a JSONL or CSV file (the CSV header is line 1, so
the first data row is line 2), the spreadsheet row of an Excel file (header row 1) and the 1-based
row of a Parquet file; line 0 means the file as a whole. Blank rows are skipped. File-level
failures (unknown extension, no such file, bytes that are not UTF-8, a file that cannot be opened)
raise the matching ``TriageError``.

Excel and Parquet need openpyxl / pyarrow (``pip install 'feedback-triage[batch]'``), imported
only when such a file is read or written.
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from classifier.errors import BadEncoding, DataError, FileAccessError, UnsupportedFormat, require

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".xlsx": "excel", ".parquet": "parquet"}


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    reason: str
    header: bool = False  # a required column is missing: no row of the file can be used

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


Record = Iterator[tuple[int, "dict | None", "RowProblem | None"]]


def file_format(path: str | Path) -> str:
    """``jsonl`` / ``csv`` / ``excel`` / ``parquet`` from the extension, else ``UnsupportedFormat``."""
    path = Path(path)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UnsupportedFormat(
            f"{path}: unsupported file type {path.suffix or '(none)'!r}; expected one of {', '.join(FORMATS)}",
            details={"expected": list(FORMATS)},
        )
    return fmt


def read_records(path: str | Path, required: Mapping[str, str] | Sequence[str] = ()) -> Record:
    """Every row of a table file as a dict keyed by column name (JSON key for JSONL).

    ``required`` columns (names, or ``{field: column}`` so that a problem names the field the
    column stands for) are checked once against the header of CSV/Excel/Parquet files; when one
    is missing the header problems are all that is yielded (rows cannot be checked against a
    missing column). JSONL has no header: a missing key is the caller's row problem.
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    reader = {"jsonl": _jsonl_records, "csv": _csv_records, "excel": _excel_records, "parquet": _parquet_records}[fmt]
    fields = dict(required) if isinstance(required, Mapping) else {c: c for c in required}
    return reader(path, fields)


def is_missing(value: Any) -> bool:
    """An empty cell: ``None`` or a float NaN (how pandas-written files mark gaps)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def decode_utf8(path: Path) -> str:
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


# --- readers ---------------------------------------------------------------------------------
def _jsonl_records(path: Path, required: dict[str, str]) -> Record:
    # split("\n"), not splitlines(): U+2028 and friends may appear raw inside JSON strings.
    for line_no, line in enumerate(decode_utf8(path).split("\n"), 1):
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


def _header_problems(header: Iterable, required: dict[str, str], line: int) -> list[RowProblem]:
    present = {str(h).strip() for h in header if h is not None}
    return [
        RowProblem(line, field, f"column {column!r} not found (columns: {', '.join(sorted(present)) or 'none'})", header=True)
        for field, column in required.items()
        if column not in present
    ]


def _table_records(header: list, body: Iterable[tuple[int, list]], required: dict[str, str], header_line: int) -> Record:
    """Shared by CSV and Excel: check the header once, then one record per non-blank row."""
    problems = _header_problems(header, required, header_line)
    if problems:
        for p in problems:
            yield header_line, None, p
        return
    names = [None if h is None else str(h).strip() for h in header]
    for line, values in body:
        if all(is_missing(v) or (isinstance(v, str) and not v.strip()) for v in values):
            continue
        if len(values) > len(names):
            yield line, None, RowProblem(line, "row", f"{len(values)} fields but the header has {len(names)}")
            continue
        values = list(values) + [None] * (len(names) - len(values))  # short rows: trailing cells are empty
        yield line, {n: v for n, v in zip(names, values) if n is not None}, None


def _csv_records(path: Path, required: dict[str, str]) -> Record:
    reader = csv.reader(io.StringIO(decode_utf8(path), newline=""))
    header = next(reader, None)
    if header is None:
        return

    def body() -> Iterator[tuple[int, list]]:
        start = reader.line_num + 1  # a quoted field may span lines: report where the record starts
        for values in reader:
            yield start, [v if v != "" else None for v in values]
            start = reader.line_num + 1

    try:
        yield from _table_records(header, body(), required, header_line=1)
    except csv.Error as exc:
        yield reader.line_num, None, RowProblem(reader.line_num, "csv", f"malformed CSV: {exc}")


def _excel_records(path: Path, required: dict[str, str]) -> Record:
    openpyxl = require("openpyxl", "batch")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a corrupt or mislabelled file: zipfile, XML and openpyxl errors alike
        raise DataError(f"{path}: cannot read as an Excel workbook: {exc}") from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return
        yield from _table_records(list(header), ((n, list(v)) for n, v in enumerate(rows, 2)), required, header_line=1)
    finally:
        workbook.close()


def _parquet_records(path: Path, required: dict[str, str]) -> Record:
    pq = require("pyarrow.parquet", "batch")
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises several types for a corrupt or non-Parquet file
        raise DataError(f"{path}: cannot read as Parquet: {exc}") from None
    problems = _header_problems(table.column_names, required, line=0)
    if problems:
        for p in problems:
            yield 0, None, p
        return
    for row_no, record in enumerate(table.to_pylist(), 1):
        yield row_no, record, None


# --- writer ----------------------------------------------------------------------------------
def write_table(path: str | Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    """Write ``rows`` (dicts; missing keys are empty cells) with ``columns`` in that order.

    The file appears complete or not at all: it is written next to ``path`` and renamed over it.
    Lists and dicts become JSON text in CSV and Excel cells; unpaired surrogates become U+FFFD.
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.parent.is_dir():
        raise FileAccessError(f"{path.parent}: no such folder")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    rows = [{c: _encodable(row.get(c)) for c in columns} for row in rows]
    try:
        {"jsonl": _write_jsonl, "csv": _write_csv, "excel": _write_excel, "parquet": _write_parquet}[fmt](tmp, rows, columns)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _encodable(value: Any) -> Any:
    """``value`` with unpaired surrogates (from a broken input decoding or a JSON escape) replaced
    by U+FFFD, so that every format can encode it; the row is kept, not refused."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value) if _SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_encodable(v) for v in value]
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    return value


def _json(value: Any) -> str:
    # default=str: spreadsheet and Parquet cells may hold dates and times, which JSON has no type for.
    return json.dumps(value, ensure_ascii=False, default=str)


def _cell(value: Any) -> Any:
    return _json(value) if isinstance(value, (list, dict)) else value


def jsonl_line(row: dict, columns: Sequence[str]) -> str:
    """One JSON Lines record of ``row`` with ``columns`` in order, as every JSONL output writes it."""
    return _json({c: _encodable(row.get(c)) for c in columns}) + "\n"


def _write_jsonl(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(jsonl_line(row, columns))


def _write_csv(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    # utf-8-sig: Excel, which analysts open CSV files in, needs the BOM to read UTF-8 Chinese text.
    with path.open("w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(["" if (v := row.get(c)) is None else _cell(v) for c in columns])


def _write_excel(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    openpyxl = require("openpyxl", "batch")
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(list(columns))
    for row in rows:
        sheet.append([_cell(row.get(c)) for c in columns])
    workbook.save(path)


def _write_parquet(path: Path, rows: Sequence[dict], columns: Sequence[str]) -> None:
    pa = require("pyarrow", "batch")
    pq = require("pyarrow.parquet", "batch")
    arrays = {}
    for c in columns:
        values = [row.get(c) for row in rows]
        try:
            arrays[c] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            # A column mixing types (numbers and text, as a CSV-born column may): store it as text.
            arrays[c] = pa.array([None if v is None else v if isinstance(v, str) else _json(v) for v in values],
                                 type=pa.string())
    pq.write_table(pa.table(arrays), path)
