"""Tabular files in and out: JSONL, CSV, Excel (.xlsx) and Parquet, chosen by file extension.

Readers are shared by labelled-data validation (``training.data.schema``) and batch scoring
(``classifier.batch.score``). Each yields ``(line, record, None)`` for a row or ``(line, None, problem)``
for a row that cannot be read, so a caller can report every bad row instead of stopping at the
first. ``line`` is the 1-based physical line of a JSONL or CSV file (the CSV header is line 1, so
the first data row is line 2), the spreadsheet row of an Excel file (header row 1) and the 1-based
row of a Parquet file; line 0 means the file as a whole. Blank rows are skipped (and counted).
File-level failures (unknown extension, no such file, bytes that cannot be decoded, a file that
cannot be opened) raise the matching ``TriageError``.

Nothing is lost or merged silently: a :class:`ReadStats` passed to :func:`read_records` counts the
physical lines, the blank ones and the records, so a caller can check that records and blank lines
tile the file. A CSV quote that never closes properly (the ``csv`` module would swallow every
following line into one field) is reported on the line where it opened (``E231``) and reading
goes on with the next line.

Text files are UTF-8 by default (labelled data must be); ``encoding="auto"`` (batch scoring)
also reads UTF-16 and UTF-8 with a BOM, and otherwise asks charset-normalizer, which analysts'
exports need: Excel on a Chinese Windows writes GBK.

Cells written to CSV and Excel are made safe for spreadsheets (:func:`spreadsheet_safe`).

Excel and Parquet need openpyxl / pyarrow (``pip install 'feedback-triage[batch]'``), imported
only when such a file is read or written.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
import codecs
from dataclasses import dataclass, field as dc_field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from classifier.errors import (
    BadEncoding,
    DataError,
    FileAccessError,
    RunawayQuote,
    ScoreOptionError,
    SheetNotFound,
    UnknownEncoding,
    UnsupportedFormat,
    require,
)

FORMATS = {".jsonl": "jsonl", ".csv": "csv", ".xlsx": "excel", ".parquet": "parquet"}


@dataclass(frozen=True)
class RowProblem:
    line: int
    field: str
    reason: str
    header: bool = False  # a required column is missing: no row of the file can be used
    code: str | None = None  # a more specific error code than the caller's default for bad rows
    # the cells of the bad row that could still be read, by column (a runaway quote's row keeps the
    # cells before the quote, its id among them, so that the output row can be matched to its source)
    cells: "dict | None" = dc_field(default=None, compare=False, repr=False)
    values: "tuple | None" = dc_field(default=None, compare=False, repr=False)  # the same, before the header names them

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}: {self.reason}"


Record = Iterator[tuple[int, "dict | None", "RowProblem | None"]]


@dataclass
class ReadStats:
    """What a reader saw, for accounting: filled in as :func:`read_records` is consumed."""

    encoding: str | None = None  # text files: the codec used (e.g. utf-8, utf-8-sig, gb18030, utf-16)
    encoding_detected: bool = False  # True when charset-normalizer chose it
    lines: int = 0  # physical lines of a text file, rows of a sheet, rows of a Parquet file (+ header)
    header_lines: int = 0
    blank_lines: int = 0  # skipped blank lines / rows
    records: int = 0  # records yielded: rows and row problems (header problems excluded)
    record_lines: int = 0  # physical lines those records span
    sheets: list[str] | None = None  # a workbook's sheet names, in order
    sheet: str | None = None  # the sheet read

    @property
    def accounted(self) -> bool:
        """Header, blank lines and records together cover every physical line exactly once."""
        return self.header_lines + self.blank_lines + self.record_lines == self.lines


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


def read_records(
    path: str | Path,
    required: Mapping[str, str] | Sequence[str] = (),
    encoding: str = "utf-8",
    stats: ReadStats | None = None,
    sheet: str | None = None,
    header_has: Sequence[str] = (),
) -> Record:
    """Every row of a table file as a dict keyed by column name (JSON key for JSONL).

    ``required`` columns (names, or ``{field: column}`` so that a problem names the field the
    column stands for) are checked once against the header of CSV/Excel/Parquet files; when one
    is missing the header problems are all that is yielded (rows cannot be checked against a
    missing column). JSONL has no header: a missing key is the caller's row problem.

    ``encoding`` applies to CSV and JSONL: a codec name, ``"utf-8"`` (a BOM allowed) or ``"auto"``
    (see :func:`decode_text`). ``stats``, when given, is filled in while the records are read.
    ``sheet`` and ``header_has`` apply to workbooks: the sheet to read, and the columns whose sheet
    and header row to look for when no sheet is named (:func:`_excel_records`).
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    fields = dict(required) if isinstance(required, Mapping) else {c: c for c in required}
    stats = stats if stats is not None else ReadStats()
    if sheet is not None and fmt != "excel":
        raise ScoreOptionError(f"--sheet is for Excel workbooks (.xlsx); {path.name} is not one")
    if fmt in ("csv", "jsonl"):
        text, stats.encoding, stats.encoding_detected = decode_text(path, encoding)
        reader = _csv_records if fmt == "csv" else _jsonl_records
        return reader(path, text, fields, stats)
    if fmt == "excel":
        return _excel_records(path, fields, stats, sheet, header_has)
    return _parquet_records(path, fields, stats)


_DATE_TIME = re.compile(r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T]+(\d{1,2})[:时](\d{1,2})(?:[:分](\d{1,2}))?)?")


def parse_datetime(value: Any) -> datetime | None:
    """A cell as a datetime (naive unless the text carries an offset), or None when it is not one.

    Takes what exports hold: datetimes and dates (Excel cells), ISO 8601 text, ``2026/12/1 9:05``
    and ``2026年12月1日``. A date alone is midnight.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    m = _DATE_TIME.fullmatch(text)
    if not m:
        return None
    try:
        return datetime(*(int(g) for g in m.groups() if g is not None))
    except ValueError:  # 2026-02-30
        return None


def is_missing(value: Any) -> bool:
    """An empty cell: ``None`` or a float NaN (how pandas-written files mark gaps)."""
    return value is None or (isinstance(value, float) and math.isnan(value))


_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# charset-normalizer names the Chinese national encodings by the subset it saw; GB18030 decodes them all.
_GB = {"gb2312", "gbk", "gb18030", "cp936", "hz"}


def decode_text(path: Path, encoding: str = "utf-8") -> tuple[str, str, bool]:
    """``(text, codec used, detected?)`` of a text file.

    ``"utf-8"``: UTF-8, with or without a BOM. ``"auto"``: a BOM (UTF-8/16/32) decides; else UTF-8
    if the bytes are valid UTF-8; else charset-normalizer's best guess (the GB family read as
    GB18030). A file that is mostly valid UTF-8 with a few broken bytes is not guessed at: it is
    reported, as a guess would garble every Chinese character in it. Any other value is a codec
    name (``gbk``, ``gb18030``, ``utf-16``, ``big5``…). Bytes the codec cannot decode raise
    ``BadEncoding`` (E203) with the line and byte offset.
    """
    data = path.read_bytes()
    if encoding not in ("auto", "utf-8"):
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise UnknownEncoding(f"unknown encoding {encoding!r}; e.g. utf-8, gb18030, gbk, utf-16, big5",
                                  details={"encoding": encoding}) from None
        if codec == "utf-8":
            encoding = "utf-8"
        else:
            return _decode(path, data, codec), codec, False
    bom = next((name for mark, name in _BOMS if data.startswith(mark)), None)
    if encoding == "utf-8" or bom in (None, "utf-8-sig"):
        try:
            return _decode(path, data, "utf-8-sig"), ("utf-8-sig" if bom else "utf-8"), False
        except BadEncoding:
            if encoding == "utf-8" or bom or _mostly_utf8(data):
                raise
    elif bom is not None:
        return _decode(path, data, bom), bom, False
    return _detect(path, data)


def _mostly_utf8(data: bytes) -> bool:
    text = data.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    return sum(1 for ch in text if ord(ch) > 0x7F) - broken > broken  # GBK read as UTF-8 is nearly all U+FFFD


def _detect(path: Path, data: bytes) -> tuple[str, str, bool]:
    charset_normalizer = require("charset_normalizer", "batch")
    best = charset_normalizer.from_bytes(data).best()
    if best is None:
        raise BadEncoding(f"{path}: cannot tell the file's encoding; pass it, e.g. --encoding gb18030",
                          details={"line": 0, "byte_offset": 0})
    codec = codecs.lookup(best.encoding).name
    codec = "gb18030" if codec in _GB else codec
    return _decode(path, data, codec, detected=True), codec, True


def _decode(path: Path, data: bytes, codec: str, detected: bool = False) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        offset = exc.start
        line = data.count(b"\n", 0, offset) + 1
        bad = data[offset : offset + min(4, exc.end - exc.start + 2)].hex(" ")
        name = "UTF-8" if codec.startswith("utf-8") else codec
        hint = ("save the file as UTF-8" if codec.startswith("utf-8") and not detected
                else "pass the right one with --encoding")
        raise BadEncoding(
            f"{path}: not valid {name}{' (detected)' if detected else ''} at line {line}, byte offset {offset} "
            f"(bytes {bad}); {hint}",
            details={"line": line, "byte_offset": offset},
        ) from None


# --- readers ---------------------------------------------------------------------------------
def _jsonl_records(path: Path, text: str, required: dict[str, str], stats: ReadStats) -> Record:
    # split("\n"), not splitlines(): U+2028 and friends may appear raw inside JSON strings.
    lines = text.split("\n")
    if lines and lines[-1] == "":  # the file's final newline ends a line, it does not start one
        lines.pop()
    stats.lines = len(lines)
    for line_no, line in enumerate(lines, 1):
        if not line.strip():
            stats.blank_lines += 1
            continue
        stats.records += 1
        stats.record_lines += 1
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
    present = list(dict.fromkeys(str(h).strip() for h in header if h is not None))  # in file order
    return [
        RowProblem(line, field, f"column {column!r} not found (columns: {', '.join(present) or 'none'})", header=True)
        for field, column in required.items()
        if column not in present
    ]


# (first line, physical lines spanned, values or None, problem or None)
Body = Iterable[tuple[int, int, "list | None", "RowProblem | None"]]


def _table_records(header: list, body: Body, required: dict[str, str], header_line: int, stats: ReadStats) -> Record:
    """Shared by CSV and Excel: check the header once, then one record per non-blank row."""
    problems = _header_problems(header, required, header_line)
    if problems:
        for p in problems:
            yield header_line, None, p
        return
    names = [None if h is None else str(h).strip() for h in header]
    for line, span, values, problem in body:
        if problem is None and all(is_missing(v) or (isinstance(v, str) and not v.strip()) for v in values):
            stats.blank_lines += span
            continue
        stats.records += 1
        stats.record_lines += span
        if problem is not None:
            if problem.values:
                problem = replace(problem, cells={n: v for n, v in zip(names, problem.values) if n is not None},
                                  values=None)
            yield line, None, problem
            continue
        if len(values) > len(names):
            yield line, None, RowProblem(line, "row", f"{len(values)} fields but the header has {len(names)}")
            continue
        values = list(values) + [None] * (len(names) - len(values))  # short rows: trailing cells are empty
        yield line, {n: v for n, v in zip(names, values) if n is not None}, None


# A record spanning lines is a runaway quote when it ends in a CSV error or at the end of the file
# inside quotes, has another field count than the header, or holds a field longer than an Excel
# cell can (32,767 characters): each sign that a quote swallowed the lines after it.
MAX_FIELD_CHARS = 32_767
_LINE_END = re.compile(r"\r\n|\n|\r")


class _Lines:
    """The file's physical lines (ends kept) as a rewindable iterator for ``csv.reader``."""

    def __init__(self, text: str):
        self.lines = _split_lines(text)
        self.pos = 0

    def __iter__(self) -> "_Lines":
        return self

    def __next__(self) -> str:
        if self.pos >= len(self.lines):
            raise StopIteration
        self.pos += 1
        return self.lines[self.pos - 1]


def _split_lines(text: str) -> list[str]:
    """Physical lines with their ends, split on \\r\\n, \\n and \\r as the csv module does."""
    out, last = [], 0
    for m in _LINE_END.finditer(text):
        out.append(text[last:m.end()])
        last = m.end()
    if last < len(text):
        out.append(text[last:])
    return out


def _csv_records(path: Path, text: str, required: dict[str, str], stats: ReadStats) -> Record:
    feed = _Lines(text)
    stats.lines = len(feed.lines)
    reader = csv.reader(feed, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise DataError(f"{path}: line 1: the header is not valid CSV ({exc})") from None
    if header is None:
        return
    stats.header_lines = feed.pos
    header = [unneutralise(h) for h in header]
    width = len(header)

    def body() -> Body:
        nonlocal reader
        while feed.pos < len(feed.lines):
            start = feed.pos
            try:
                values = next(reader)
                span = feed.pos - start
                runaway = span > 1 and (len(values) != width or any(len(v) > MAX_FIELD_CHARS for v in values))
                why = (f"it spans {span} lines and gives {len(values)} fields (header: {width})"
                       if runaway else "")
            except csv.Error as exc:
                runaway, span = True, feed.pos - start
                why = ("it runs to the end of the file" if "end of data" in str(exc)
                       else f"it runs {span} lines to a CSV error ({exc})")
            except StopIteration:
                return
            if not runaway:
                yield start + 1, span, [unneutralise(v) if v != "" else None for v in values], None
                continue
            # Report the opening line alone and read on from the next one, with a fresh reader. The
            # fields before the one whose quote never closes are intact: they keep the row's id.
            before = [unneutralise(v) for v in next(csv.reader([feed.lines[start].rstrip("\r\n")]), [])[:-1]]
            feed.pos = start + 1
            reader = csv.reader(feed, strict=True)
            line = start + 1
            yield line, 1, None, RowProblem(
                line, "csv", f"a quote opened on this line does not close properly: {why}; "
                "this line is reported on its own and reading goes on with the next", code=RunawayQuote.code,
                values=tuple(v if v != "" else None for v in before) or None)

    yield from _table_records(header, body(), required, header_line=1, stats=stats)


# How far down a sheet its header row is looked for (title rows, blank rows, a group header above).
HEADER_SEARCH_ROWS = 20


def _excel_records(path: Path, required: dict[str, str], stats: ReadStats, sheet: str | None = None,
                   header_has: Sequence[str] = ()) -> Record:
    """A workbook's rows, as real exports come: the sheet is ``sheet``, else the first sheet whose
    header row holds every column of ``header_has`` (or of ``required``), so that a cover or notes
    sheet first is passed over; the header row is the first of the top rows that holds them (else
    the first non-blank row), so that title rows, empty rows and a group header above are skipped.

    A header cell left empty by a merge (a name merged down over two header rows keeps its value in
    the top cell only) takes the nearest name above it in the same column. openpyxl's read-only
    mode, which keeps a 100,000-row export out of memory, does not say which cells are merged;
    this covers the merged header shapes exports have without loading the whole workbook.
    """
    openpyxl = require("openpyxl", "batch")
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a corrupt or mislabelled file: zipfile, XML and openpyxl errors alike
        raise DataError(f"{path}: cannot read as an Excel workbook: {exc}") from None
    try:
        names = list(workbook.sheetnames)
        stats.sheets = names
        wanted = {str(c) for c in (header_has or required.values()) if c}
        if sheet is not None:
            if sheet not in names:
                raise SheetNotFound(f"{path}: no sheet {sheet!r} (sheets: {', '.join(names) or 'none'})",
                                    details={"sheets": names})
            chosen = [(sheet, _find_header(workbook[sheet], wanted))]
        else:
            chosen = []
            for name in names:
                found = _find_header(workbook[name], wanted)
                if found is not None and found[2]:  # this sheet's header row holds the wanted columns
                    chosen = [(name, found)]
                    break
            if not chosen:  # none does: the first sheet with any rows, so the caller's error names its columns
                chosen = [next(((n, f) for n in names if (f := _find_header(workbook[n], set())) is not None),
                               (names[0] if names else "", None))]
        stats.sheet, found = chosen[0]
        if found is None:
            return
        header_row, header, _ = found
        stats.header_lines = header_row
        rows = workbook[stats.sheet].iter_rows(min_row=header_row + 1, values_only=True)

        def body() -> Body:
            for n, values in enumerate(rows, header_row + 1):
                stats.lines = n
                yield n, 1, list(values), None

        stats.lines = header_row
        yield from _table_records(header, body(), required, header_line=header_row, stats=stats)
    finally:
        workbook.close()


def _find_header(worksheet: Any, wanted: set[str]) -> tuple[int, list, bool] | None:
    """``(row number, header cells, holds every wanted name)`` of the sheet's header row, or None
    for a sheet without a non-blank row in its top rows.

    A header of two rows (a group name merged across columns above, names merged down beside it)
    ends on the lower row: a row below the one holding the wanted names whose wanted cells are empty
    (merged down) and which names a column the row above left empty (under the group name) is a
    continuation, and its names win where it has them.
    """
    def clean(values: Sequence[Any]) -> list[Any]:
        return [None if is_missing(v) or (isinstance(v, str) and not v.strip()) else v for v in values]

    top = [clean(v) for v in worksheet.iter_rows(max_row=HEADER_SEARCH_ROWS, values_only=True)]
    above: dict[int, Any] = {}  # column → the nearest name above, for cells a merge left empty
    first: tuple[int, list] | None = None
    for n, cells in enumerate(top, 1):
        if not any(c is not None for c in cells):
            continue
        if first is None:
            first = (n, cells)
        filled = [c if c is not None else above.get(i) for i, c in enumerate(cells)]
        present = {str(c).strip() for c in filled if c is not None}
        if wanted and wanted <= present:
            at = {i for i, c in enumerate(filled) if c is not None and str(c).strip() in wanted}
            while n < len(top) and all(i >= len(top[n]) or top[n][i] is None for i in at) and any(
                    c is not None and (i >= len(filled) or filled[i] is None) for i, c in enumerate(top[n])):
                # (the row below fills a gap of the header: not a first data row whose text is empty)
                below = top[n]
                filled = [below[i] if i < len(below) and below[i] is not None else (filled[i] if i < len(filled) else None)
                          for i in range(max(len(filled), len(below)))]
                n += 1
            return n, filled, True
        above.update({i: c for i, c in enumerate(cells) if c is not None})
    return (first[0], first[1], not wanted) if first else None


def _parquet_records(path: Path, required: dict[str, str], stats: ReadStats) -> Record:
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
    stats.lines = stats.records = stats.record_lines = table.num_rows
    for row_no, record in enumerate(table.to_pylist(), 1):
        yield row_no, record, None


# --- writer ----------------------------------------------------------------------------------
def write_table(path: str | Path, rows: Sequence[dict], columns: Sequence[str], sheet: str = "scored") -> None:
    """Write ``rows`` (dicts; missing keys are empty cells) with ``columns`` in that order.

    The file appears complete or not at all: it is written next to ``path`` and renamed over it.
    Lists and dicts become JSON text in CSV and Excel cells; unpaired surrogates become U+FFFD.
    CSV and Excel cells are spreadsheet-safe (:func:`spreadsheet_safe`, :func:`_excel_cell`); an
    Excel file gets one sheet named ``sheet``, a frozen header row, an autofilter and column
    widths fitted to the text.
    """
    path = Path(path)
    fmt = file_format(path)
    if not path.parent.is_dir():
        raise FileAccessError(f"{path.parent}: no such folder")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    rows = [{c: _encodable(row.get(c)) for c in columns} for row in rows]
    try:
        if fmt == "excel":
            _write_excel(tmp, rows, columns, sheet)
        else:
            {"jsonl": _write_jsonl, "csv": _write_csv, "parquet": _write_parquet}[fmt](tmp, rows, columns)
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


# --- spreadsheet safety -----------------------------------------------------------------------
# A cell starting with one of these is a formula (or becomes one when edited) in Excel, LibreOffice
# and Google Sheets: customer text such as =HYPERLINK("http://…","点此退款") would run in the
# analyst's spreadsheet (CSV / formula injection, OWASP). Plain numbers (-500, +8613812345678) are
# left alone: a number is not a formula, and a prefix would turn amounts into text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


def is_formula_like(value: Any) -> bool:
    """A string a spreadsheet would (or could, once edited) read as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_TRIGGERS) and _PLAIN_NUMBER.fullmatch(value) is None


def _quoted_formula(value: Any) -> bool:
    """Formula-like once its leading quotes are gone (``=x``, ``'=x``, ``''=x``): these get one more quote
    on writing, so that reading (:func:`unneutralise`) gives back exactly the text, quotes and all."""
    return isinstance(value, str) and is_formula_like(value.lstrip("'"))


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell neutralised as OWASP recommends: a formula-like string gets a leading ``'``
    (shown by spreadsheets as "this is text"); the CSV writer also quotes every cell, so that no
    cell can be split into a formula by another delimiter (``;`` in many locales)."""
    return "'" + value if _quoted_formula(value) else value


def unneutralise(value: str) -> str:
    """A CSV cell as written before :func:`spreadsheet_safe`: ``'=…`` is ``=…``. CSV readers apply it, so
    that a file this project wrote (or any written by the same convention) reads back as the text it
    holds: the report, ``data validate`` and a second ``score`` never see the quote, and writing the
    cell again puts the same single quote back."""
    return value[1:] if value.startswith("'") and _quoted_formula(value[1:]) else value


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
        writer = csv.writer(f, quoting=csv.QUOTE_ALL)
        writer.writerow([spreadsheet_safe(c) for c in columns])
        for row in rows:
            writer.writerow(["" if (v := row.get(c)) is None else spreadsheet_safe(_cell(v)) for c in columns])


def _write_excel(path: Path, rows: Sequence[dict], columns: Sequence[str], title: str) -> None:
    openpyxl = require("openpyxl", "batch")
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    sheet.freeze_panes = "A2"
    if columns:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{len(rows) + 1}"
    for i, width in enumerate(_column_widths(rows, columns), 1):
        sheet.column_dimensions[get_column_letter(i)].width = width

    def cell(value: Any) -> Any:
        value = _cell(value)
        if not isinstance(value, str):
            return value
        value = _ILLEGAL_XML.sub("\ufffd", value)  # control characters: openpyxl refuses them
        if value.startswith("=") or value.startswith("#") or is_formula_like(value):
            # openpyxl stores "=…" as a formula and "#N/A"… as an error: force a string cell, and
            # mark it quote-prefixed so that editing it in Excel keeps it text.
            text = WriteOnlyCell(sheet, value=None)
            text.value, text.data_type, text.quotePrefix = value, "s", True
            return text
        return value

    sheet.append([cell(c) for c in columns])
    for row in rows:
        sheet.append([cell(row.get(c)) for c in columns])
    workbook.save(path)


# Characters XML 1.0 cannot hold (openpyxl.cell.cell.ILLEGAL_CHARACTERS_RE); tab, LF and CR are fine.
_ILLEGAL_XML = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _sheet_title(title: str) -> str:
    """A valid sheet name: at most 31 characters, none of []:*?/\\."""
    return re.sub(r"[\[\]:*?/\\]", "_", title)[:31] or "Sheet1"


def _column_widths(rows: Sequence[dict], columns: Sequence[str], sample: int = 500) -> list[float]:
    """Widths from the header and the first ``sample`` rows: a CJK character counts two, between
    6 and 60 (long texts wrap in the cell instead of pushing the other columns off screen)."""
    widths = []
    for c in columns:
        longest = _display_width(str(c))
        for row in rows[:sample]:
            v = row.get(c)
            if v is not None:
                longest = max(longest, _display_width(str(_cell(v))[:120]))
        widths.append(float(min(max(longest + 2, 6), 60)))
    return widths


def _display_width(text: str) -> int:
    return sum(2 if ord(ch) >= 0x1100 else 1 for ch in text)


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
