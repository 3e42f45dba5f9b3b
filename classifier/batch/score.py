"""Batch scoring of a table file (survey answers, exported tickets): every row classified, placed
on the priority matrix and routed, written out with the input's own columns kept beside the
predictions.

Three stages, each its own function so that another engine can reuse the first and the last:
:func:`read_input` (decode, parse, map columns, account for every record), :func:`score_rows`
(model, rules, checkpoint) and :func:`write_output` (labels, the output file, the accounting).

* Nothing is dropped: a row that cannot be scored (empty text, an unreadable JSON line or CSV
  record, a CSV quote that runs away) is still written, with an ``error`` like ``E210 empty
  text``; only a file that cannot be read at all (undecodable, missing text column, corrupt
  workbook) stops the run, with its code. The summary counts input records, output rows and error
  rows, and says whether they add up (``accounted``).
* Resumable: scored rows go to a checkpoint, ``OUTPUT.partial.jsonl``, a chunk at a time. After an
  interruption the same command with ``resume=True`` scores only what is missing; the checkpoint
  remembers the input's hash, the model version and the options, and refuses to mix runs. The
  output file itself is written once, complete, at the end (then the checkpoint is removed).
* Scale-out: ``shard=(k, n)`` scores every n-th row starting at the k-th (1-based), so n machines
  or processes split a file without coordinating; each writes its own output, and
  :func:`merge_shards` puts them back together in input order (checking that every row is there
  exactly once).

Rows feed the priority and routing rules as metadata: every column other than the text and id
(``channel``, ``customer_tier``, ``amount``… as named in configs/priority.yaml and routing.yaml),
plus the fields ``column_map`` maps to the file's own columns (``渠道`` → ``channel``). A metadata
key the rules use that the file does not have is a warning in the summary: those rules never match.
Deadlines (``respond_by``, ``resolve_by``) count from a ``received_at`` column (or the column
mapped to it) when there is one, else from the time of scoring.
"""
from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

from classifier.io.columns import orient
from classifier.io.tables import ReadStats, file_format, is_missing, parse_datetime, read_records, write_table
from classifier.errors import (
    CheckpointExists,
    CheckpointLocked,
    CheckpointMismatch,
    ColumnClash,
    EmptyText,
    RowWithoutText,
    ScoreOptionError,
    ShardMismatch,
    UnreadableRow,
    UnscorableFile,
)
from classifier.labels import DISPLAY_ZH, HEADS, LABELS

CHECKPOINT_SUFFIX = ".partial.jsonl"
SIDECAR_SUFFIX = ".score.json"
CHECKPOINT_VERSION = 2  # 2: the calendar_uncovered column
OUTPUT_LABELS = ("en", "zh")


class Predictor(Protocol):  # classifier.runtime.Classifier
    model_version: str

    def predict(self, texts: Sequence[str]) -> list[Any]: ...


@dataclass(frozen=True)
class ScoreOptions:
    text_column: str = "text"
    id_column: str = "id"
    shard: tuple[int, int] = (1, 1)  # (k, n), 1-based: rows k-1, k-1+n, k-1+2n, …
    chunk_size: int = 256  # rows per model call and per checkpoint write
    scores: bool = False  # also one column per class score
    prefix: str = ""  # prepended to every added column, for inputs that already have e.g. `category`
    encoding: str = "auto"  # CSV/JSONL: "auto" (BOM, UTF-8, else detected) or a codec name
    column_map: tuple[tuple[str, str], ...] = ()  # --map pairs as given (see classifier.io.columns)
    labels: str = "en"  # "zh": Chinese label names in the output (产品及服务质量, 负面, 紧急且重要…)
    sheet: str | None = None  # a workbook's sheet; None: the first whose header row holds the text column

    def __post_init__(self) -> None:
        k, n = self.shard
        if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n):
            raise ScoreOptionError(f"shard must be K/N with 1 <= K <= N, got {k}/{n}")
        if self.chunk_size < 1:
            raise ScoreOptionError("chunk size must be at least 1")
        if self.labels not in OUTPUT_LABELS:
            raise ScoreOptionError(f"labels must be one of {', '.join(OUTPUT_LABELS)}, got {self.labels!r}")

    def prediction_columns(self) -> list[str]:
        names = []
        for head in HEADS:
            names += [head, f"{head}_confidence"]
            if head == "category":
                names.append("category_secondary")
            if self.scores:
                names += [f"{head}_score_{label}" for label in LABELS[head]]
        # row: the 1-based position among the input's data rows, which `merge_shards` orders by.
        # calendar_uncovered: resolve_by counted days of a year without holiday data (Mon-Fri
        # assumed), so it is approximate (classifier/calendar.py).
        names += ["needs_review", "review_heads", "review_reasons", "quadrant", "priority_level", "respond_by",
                  "resolve_by", "calendar_uncovered", "route", "model_version", "error", "row"]
        return [self.prefix + n for n in names]


@dataclass
class ScoreSummary:
    input: str
    output: str
    shard: str
    rows: int = 0  # rows of this shard
    scored: int = 0
    errors: int = 0  # rows written with an `error`
    resumed: int = 0  # rows already in the checkpoint when this run started
    needs_review: int = 0
    seconds: float = 0.0
    encoding: str | None = None  # CSV/JSONL: the codec the input was read with
    encoding_detected: bool = False  # chosen by detection, not given or marked by a BOM
    input_lines: int = 0  # physical lines (rows of a sheet) of the whole input, header included
    blank_lines: int = 0  # skipped: blank lines / rows
    input_records: int = 0  # records of the whole input (rows and unreadable records)
    output_rows: int = 0  # rows written (this shard's)
    error_rows: int = 0  # of which written with an `error`
    accounted: bool = True  # every record of this shard is one output row, and lines tile the file
    column_map: dict[str, str] = field(default_factory=dict)  # field -> the file's column
    deadlines_from: str = "scoring time"  # or the received_at column deadlines count from
    no_deadline: int = 0  # scored rows whose received time could not be read: respond_by/resolve_by empty
    calendar_uncovered: int = 0  # rows whose resolve_by is approximate (a year without holiday data)
    warnings: list[str] = field(default_factory=list)
    error_counts: dict[str, int] = field(default_factory=dict)
    review_reasons: dict[str, int] = field(default_factory=dict)  # rows per reason (classifier/review.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# (rows done, rows in the shard, rows that were already done when the run started, seconds so far)
Progress = Callable[[int, int, int, float], None]


def checkpoint_path(output: str | Path) -> Path:
    output = Path(output)
    return output.with_name(output.name + CHECKPOINT_SUFFIX)


def sidecar_path(output: str | Path) -> Path:
    """``OUT.score.json`` beside a scored file: how it was scored (see :func:`write_sidecar`)."""
    output = Path(output)
    return output.with_name(output.name + SIDECAR_SUFFIX)


def write_sidecar(output_path: str | Path, table: "InputTable", options: ScoreOptions, summary: ScoreSummary) -> Path:
    """Record beside the output what later commands must otherwise be told again.

    ``triage report`` reads it so that an analyst who scored with ``--map text=客户意见`` or
    ``--map channel=渠道`` does not repeat ``--text-column 客户意见`` and can say ``--by channel``;
    ``triage score-merge`` reads the parts' record counts to name the rows of a missing shard.
    """
    path = sidecar_path(output_path)
    record = {
        "written_by": "triage score", "output": Path(output_path).name, "text_column": table.text_column,
        "id_column": table.id_column, "prefix": options.prefix, "labels": options.labels,
        "column_map": dict(table.mapping), "summary": summary.to_dict(),
    }
    path.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def read_sidecar(scored: str | Path) -> dict[str, Any] | None:
    """The record :func:`write_sidecar` left beside ``scored``, or None (none, or unreadable: a
    scored file stays usable without it, with the columns given on the command line)."""
    try:
        record = json.loads(sidecar_path(scored).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get("written_by") == "triage score" else None


def score_file(
    input_path: str | Path,
    output_path: str | Path,
    classifier: Predictor,
    matrix: Any,  # classifier.priority.PriorityMatrix
    router: Any,  # classifier.routing.Router
    options: ScoreOptions = ScoreOptions(),
    resume: bool = False,
    progress: Progress | None = None,
) -> ScoreSummary:
    """Score ``input_path`` into ``output_path`` (formats by extension); see the module docstring."""
    input_path, output_path = Path(input_path), Path(output_path)
    file_format(output_path)  # an unsupported output type fails before any work
    # A missing folder is made (as `triage report --out` does); one that cannot be is found out now,
    # not after hours of scoring (E204).
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if output_path.resolve() == input_path.resolve():
        raise ScoreOptionError("the output file must not be the input file")
    k, n = options.shard
    summary = ScoreSummary(str(input_path), str(output_path), f"{k}/{n}")
    start = time.perf_counter()

    table = read_input(input_path, options)
    describe_input(table, summary, matrix, router, options)

    checkpoint = checkpoint_path(output_path)
    # Held until the output is written and the checkpoint removed: a second run on the same
    # output (a repeated command, a --resume while the first still runs) stops instead of mixing.
    with checkpoint.open("a", encoding="utf-8") as sink:
        _lock(sink, output_path)
        done = score_rows(table, sink, _sha256(input_path), classifier, matrix, router, options, resume,
                          summary, progress, start)
        write_output(table, done, output_path, options, summary)
        checkpoint.unlink()
    summary.seconds = round(time.perf_counter() - start, 3)
    write_sidecar(output_path, table, options, summary)
    return summary


# --- reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Row:
    index: int  # position among all rows of the file (shards are cut on it)
    line: int  # for messages: see classifier.io.tables
    cells: dict[str, Any]  # the input's columns, as read
    text: str | None  # None: cannot be scored, see error
    error: str | None


@dataclass
class InputTable:
    """The read stage's result: this shard's rows, the input's columns, and how they were read."""

    rows: list[_Row]
    columns: list[str]  # in first-seen order
    mapping: dict[str, str]  # field -> column, from options.column_map (text and id included)
    stats: ReadStats
    text_column: str
    id_column: str
    received_column: str | None = None  # deadlines count from it (else from the time of scoring)

    def metadata(self, row: _Row) -> dict[str, Any]:
        """What the rules see of ``row``: its other columns, and each mapped field under its own name."""
        meta = {key: value for key, value in row.cells.items()
                if key not in (self.text_column, self.id_column) and not is_missing(value)}
        for name, column in self.mapping.items():
            if name not in ("text", "id") and not is_missing(row.cells.get(column)):
                meta[name] = row.cells[column]
        return meta


def read_input(path: Path, options: ScoreOptions) -> InputTable:
    """This shard's rows and the input's columns; every record of the file is counted in ``stats``."""
    k, n = options.shard
    stats = ReadStats()
    # The text column as the file names it (--map in either direction, else --text-column): what a
    # workbook's sheet and header row are recognised by.
    named = [b if a == "text" else a for a, b in options.column_map if "text" in (a, b)] or [options.text_column]
    records = list(read_records(path, encoding=options.encoding, stats=stats, sheet=options.sheet,
                                header_has=named[:1]))
    columns: dict[str, None] = {}
    for _line, record, _problem in records:
        if record is not None:
            columns.update(dict.fromkeys(record))
    mapping = orient(options.column_map, list(columns))
    text_column = mapping.get("text", options.text_column)
    id_column = mapping.get("id", options.id_column)
    if file_format(path) != "jsonl" and columns and text_column not in columns:  # nothing can be scored
        where = f"sheet {stats.sheet!r} " if stats.sheets else ""
        sheets = (f"; the workbook's sheets: {', '.join(stats.sheets)} (choose one with --sheet)"
                  if stats.sheets and len(stats.sheets) > 1 else "")
        raise UnscorableFile(f"{path}: {where}line {stats.header_lines or 1}: text: column {text_column!r} not found "
                             f"(columns: {', '.join(columns)}); name it with --text-column or --map text=COLUMN{sheets}",
                             details={"line": stats.header_lines or 1, "sheets": stats.sheets or []})
    rows: list[_Row] = []
    for index, (line, record, problem) in enumerate(records):
        if index % n != k - 1:
            continue
        if problem is not None:
            rows.append(_Row(index, line, dict(problem.cells or {}), None, f"{problem.code or UnreadableRow.code} {problem}"))
            continue
        text = record.get(text_column)
        if text_column not in record:
            rows.append(_Row(index, line, record, None, f"{RowWithoutText.code} line {line}: no {text_column!r} field"))
        elif is_missing(text) or not str(text).strip():
            rows.append(_Row(index, line, record, None, f"{EmptyText.code} line {line}: empty text"))
        else:
            rows.append(_Row(index, line, record, text if isinstance(text, str) else str(text), None))
    if not rows and not columns:
        raise UnscorableFile(f"{path}: no data rows")
    received = mapping.get("received_at", "received_at" if "received_at" in columns else None)
    return InputTable(rows, list(columns), mapping, stats, text_column, id_column, received)


def describe_input(table: InputTable, summary: ScoreSummary, matrix: Any, router: Any, options: ScoreOptions) -> None:
    """Put how the input was read into ``summary``; stop before scoring if the added columns clash with it."""
    summary.rows = len(table.rows)
    summary.encoding, summary.encoding_detected = table.stats.encoding, table.stats.encoding_detected
    summary.input_lines, summary.blank_lines = table.stats.lines, table.stats.blank_lines
    summary.input_records = table.stats.records
    summary.column_map = dict(table.mapping)
    summary.deadlines_from = f"column {table.received_column}" if table.received_column else "scoring time"
    summary.warnings = missing_rule_keys(table, matrix, router)
    clash = sorted(set(table.columns) & set(options.prediction_columns()))
    if clash:
        raise ColumnClash(
            f"the input already has column(s) {', '.join(clash)}, which scoring adds; pass a prefix (--prefix pred_)",
            details={"columns": clash},
        )


def rule_metadata_keys(matrix: Any, router: Any) -> dict[str, list[str]]:
    """Metadata key -> the importance and routing rules that test it."""
    keys: dict[str, list[str]] = {}
    for kind, rules in (("importance rule", getattr(matrix, "importance_rules", ())),
                        ("routing rule", getattr(router, "rules", ()))):
        for rule in rules:
            for test in rule.condition.metadata:
                keys.setdefault(test.key, []).append(f"{kind} {rule.name}")
    return keys


def missing_rule_keys(table: InputTable, matrix: Any, router: Any) -> list[str]:
    """A warning per metadata key the rules use that no column (or --map) provides, when the file has
    a column the key might be under: one that is neither the text, the id, a mapped column nor a
    rule's key. A survey export with only its texts (and the columns the rules use) gets none: its
    rules on customer_tier or amount do not apply, and a warning on every run would only be noise."""
    present = (set(table.columns) - {table.text_column, table.id_column}) | set(table.mapping)
    used = rule_metadata_keys(matrix, router)
    spare = set(table.columns) - {table.text_column, table.id_column} - set(table.mapping.values()) - set(used)
    if not spare:
        return []
    return [
        f"the rules use metadata {key!r} ({', '.join(rules)}) but the file has no such column, so they never "
        f"match; map one with --map {key}=COLUMN (columns: {', '.join(table.columns)})"
        for key, rules in used.items() if key not in present
    ]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- scoring ---------------------------------------------------------------------------------
def score_rows(
    table: InputTable, sink: Any, input_sha256: str, classifier: Predictor, matrix: Any, router: Any,
    options: ScoreOptions, resume: bool, summary: ScoreSummary, progress: Progress | None, start: float,
) -> dict[int, dict]:
    """Score the rows the checkpoint ``sink`` (open for appending, locked) does not hold yet;
    returns every row's added values by index."""
    k, n = options.shard
    header = json.loads(json.dumps({  # as stored: JSON types (lists, not tuples)
        "checkpoint": CHECKPOINT_VERSION,
        "input_sha256": input_sha256,
        "model_version": classifier.model_version,
        "options": {**asdict(options), "shard": f"{k}/{n}"},
    }))
    checkpoint = Path(sink.name)
    done = _open_checkpoint(checkpoint, header, resume) if checkpoint.stat().st_size else {}
    summary.resumed = len(done)
    pending = [r for r in table.rows if r.index not in done]
    sink.seek(0, os.SEEK_END)  # past a cut-short line that _open_checkpoint dropped
    if sink.tell() == 0:
        sink.write(json.dumps(header, ensure_ascii=False) + "\n")
    finished = len(done)
    for at in range(0, len(pending), options.chunk_size):
        chunk = pending[at:at + options.chunk_size]
        for row in score_chunk(chunk, table, classifier, matrix, router, options):
            done[row["index"]] = row["values"]
            sink.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
        sink.flush()
        os.fsync(sink.fileno())  # a chunk on disk survives a crash of the machine, not only of us
        finished += len(chunk)
        if progress:
            progress(finished, len(table.rows), summary.resumed, time.perf_counter() - start)
    return done


# --- writing ---------------------------------------------------------------------------------
def write_output(table: InputTable, done: dict[int, dict], output_path: Path, options: ScoreOptions,
                 summary: ScoreSummary) -> None:
    """Write the input's columns and the added ones, in input order; count and check the rows."""
    p = options.prefix
    label_columns = [p + h for h in HEADS] + [p + "category_secondary", p + "quadrant"]
    out_rows = []
    for r in table.rows:
        added = done[r.index]
        if options.labels == "zh":
            added = {**added, **{c: DISPLAY_ZH.get(added[c], added[c]) for c in label_columns if added.get(c)}}
        values = {**r.cells, **added}
        out_rows.append(values)
        error = values.get(p + "error")
        if error:
            summary.errors += 1
            code = error.split(" ", 1)[0]
            summary.error_counts[code] = summary.error_counts.get(code, 0) + 1
        else:
            summary.scored += 1
            summary.no_deadline += values.get(p + "resolve_by") is None
            summary.calendar_uncovered += values.get(p + "calendar_uncovered") is True
            summary.needs_review += bool(values.get(p + "needs_review"))
            for reason in values.get(p + "review_reasons") or ():
                summary.review_reasons[reason] = summary.review_reasons.get(reason, 0) + 1
    if summary.calendar_uncovered:
        summary.warnings.append(
            f"{summary.calendar_uncovered} row(s) have an approximate resolve_by (calendar_uncovered): their deadline "
            "counts days of a year without holiday data, as Monday-Friday; enter the year's schedule with "
            "`triage calendar import FILE` and score again / 部分行的办结期限为估算（该年节假日安排未录入）")
    write_table(output_path, out_rows, table.columns + options.prediction_columns(), sheet="scored")
    k, n = options.shard
    summary.output_rows, summary.error_rows = len(out_rows), summary.errors
    expected = len(range(k - 1, summary.input_records, n))  # this shard's share of the input's records
    summary.accounted = (table.stats.accounted and summary.output_rows == expected
                         and summary.scored + summary.errors == summary.output_rows)


# --- checkpoint ------------------------------------------------------------------------------
def _lock(sink: Any, output: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: runs are not protected from each other
        return
    try:
        fcntl.flock(sink.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise CheckpointLocked(f"another `triage score` is writing {output}; wait for it to finish or stop it",
                               details={"checkpoint": str(checkpoint_path(output))}) from None


def _open_checkpoint(path: Path, header: dict, resume: bool) -> dict[int, dict]:
    """Rows already scored (index -> added values); ``{}`` for a fresh run."""
    if path.stat().st_size == 0:  # created by a run that stopped before writing anything
        return {}
    if not resume:
        raise CheckpointExists(
            f"{path} holds rows of an earlier, unfinished run: pass --resume to continue it, or delete the file to start over",
            details={"checkpoint": str(path)},
        )
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # a line cut short by the interruption is dropped
    if len(complete) != len(data):
        with path.open("r+b") as fh:
            fh.truncate(len(complete))
    lines = complete.decode("utf-8").splitlines()
    if not lines:
        return {}
    try:
        stored = json.loads(lines[0])
        done = {int(row["index"]): row["values"] for row in map(json.loads, lines[1:])}
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointMismatch(f"{path} is not a scoring checkpoint ({exc}); delete it to start over") from None
    different = [key for key in header if stored.get(key) != header[key]]
    if different:
        raise CheckpointMismatch(
            f"{path} was written by a different run ({', '.join(different)} differ); delete it to start over",
            details={key: {"checkpoint": stored.get(key), "now": header[key]} for key in different},
        )
    return done


# --- scoring ---------------------------------------------------------------------------------
def score_chunk(chunk: list[_Row], table: InputTable, classifier: Predictor, matrix: Any, router: Any,
                 options: ScoreOptions) -> list[dict]:
    """One ``{"index", "values"}`` per row of ``chunk``, ``values`` holding the added columns."""
    p = options.prefix
    errors = {r.index: r.error for r in chunk if r.error}
    scorable = [r for r in chunk if not r.error]
    predictions: dict[int, Any] = {}
    while scorable:
        try:
            preds = classifier.predict([r.text for r in scorable])
        except EmptyText as exc:  # empty only after normalization (e.g. zero-width characters)
            bad = scorable.pop(int(exc.details["index"]))
            errors[bad.index] = f"{EmptyText.code} line {bad.line}: empty text after normalization"
            continue
        predictions.update((r.index, pred) for r, pred in zip(scorable, preds))
        break

    now = datetime.now(timezone.utc)
    empty = dict.fromkeys(options.prediction_columns())
    out = []
    for r in chunk:
        values: dict[str, Any] = dict(empty)
        values[p + "model_version"] = classifier.model_version
        values[p + "row"] = r.index + 1
        pred = predictions.get(r.index)
        if pred is None:
            values[p + "error"] = errors[r.index]
            out.append({"index": r.index, "values": values})
            continue
        for head in HEADS:
            hp = pred.heads[head]
            values[p + head] = hp.label
            values[p + f"{head}_confidence"] = round(float(hp.confidence), 6)
            if options.scores:
                for label in LABELS[head]:
                    values[p + f"{head}_score_{label}"] = round(float(hp.scores[label]), 6)
        values[p + "category_secondary"] = pred.category_secondary
        values[p + "needs_review"] = bool(pred.needs_review)
        values[p + "review_heads"] = list(pred.review_heads)
        values[p + "review_reasons"] = list(pred.review_reasons)
        metadata = table.metadata(r)
        labels = [pred.heads[h].label for h in HEADS]
        received = now
        if table.received_column:
            received = parse_datetime(r.cells.get(table.received_column))
            if received is not None and received.tzinfo is None:
                received = received.replace(tzinfo=matrix.tz)  # local time of the matrix's zone
        priority = matrix.assess(*labels, metadata, received or now)
        values[p + "quadrant"] = priority.quadrant
        values[p + "priority_level"] = priority.level
        if received is not None:  # an unreadable received time: no deadline rather than a wrong one
            values[p + "respond_by"] = priority.respond_by.isoformat(sep=" ", timespec="minutes")
            values[p + "resolve_by"] = priority.resolve_by.isoformat(sep=" ", timespec="minutes")
            values[p + "calendar_uncovered"] = priority.calendar_uncovered
        values[p + "route"] = router.route(labels[0], pred.category_secondary, labels[1], labels[2],
                                           priority.level, metadata).queue
        out.append({"index": r.index, "values": values})
    return out


# --- merging shards --------------------------------------------------------------------------
def merge_shards(parts: Sequence[str | Path], output_path: str | Path, prefix: str = "") -> int:
    """Concatenate shard outputs into ``output_path`` in input order; returns the row count.

    Every row number from 1 to the total must occur exactly once across ``parts``: a missing
    shard or one scored twice is an error naming the rows, and nothing is written.
    """
    row_column = prefix + "row"
    rows: list[dict] = []
    columns: dict[str, None] = {}
    sidecars = [s for s in map(read_sidecar, parts) if s is not None]
    for part in parts:
        for line, record, problem in read_records(part, {"row": row_column}):
            if problem is not None:
                raise UnscorableFile(f"{part}: {problem}; is it a `triage score` output (--prefix {prefix!r})?")
            try:
                record[row_column] = int(record[row_column])
            except (TypeError, ValueError):
                raise UnscorableFile(f"{part}: line {line}: {row_column!r} is not a row number") from None
            columns.update(dict.fromkeys(record))
            rows.append(record)
    rows.sort(key=lambda r: r[row_column])
    numbers = [r[row_column] for r in rows]
    duplicates = sorted({n for n, m in zip(numbers, numbers[1:]) if n == m})
    # The input's record count, as the shards' sidecars recorded it: without it a missing last shard
    # (whose rows include the file's last) could only be counted up to the highest row present.
    records = [s["summary"].get("input_records") for s in sidecars if isinstance(s.get("summary"), dict)]
    total = records[0] if records and len(set(records)) == 1 and isinstance(records[0], int) else 0
    missing = sorted(set(range(1, max(total, numbers[-1] if numbers else 0) + 1)) - set(numbers))
    if duplicates or missing:
        raise ShardMismatch(
            f"the parts do not add up to one file: {len(missing)} rows missing, {len(duplicates)} rows twice",
            details={"missing_rows": missing[:50], "duplicate_rows": duplicates[:50]},
        )
    write_table(output_path, rows, list(columns))
    if sidecars:  # how the parts were scored, for `triage report` on the merged file
        merged = {k: v for k, v in sidecars[0].items() if k != "summary"}
        merged.update(output=Path(output_path).name, merged_from=[str(p) for p in parts])
        sidecar_path(output_path).write_text(json.dumps(merged, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(rows)
