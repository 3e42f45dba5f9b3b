"""Numbered, stable error codes. Every user-facing failure carries one of these.

Codes never change meaning once released; add new ones at the end of a block.
"""
from __future__ import annotations

from typing import Any


class TriageError(Exception):
    """An expected failure with a stable ``code`` and a human message (never a stack trace)."""

    code = "E000"
    http_status = 400

    def __init__(self, message: str, details: Any = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def __str__(self) -> str:  # "[E101] bundle file model.onnx ..."
        return f"[{self.code}] {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "details": self.details}


# --- E1xx: model bundles -------------------------------------------------------------
class BundleError(TriageError):
    code = "E100"
    http_status = 500


class BundleMissingFile(BundleError):
    code = "E101"


class BundleHashMismatch(BundleError):
    code = "E102"


class BundleManifestInvalid(BundleError):
    code = "E103"


class BundleLabelMismatch(BundleError):
    code = "E104"


# --- E2xx: data and input -------------------------------------------------------------
class DataError(TriageError):
    code = "E200"


class InvalidData(DataError):
    """A labelled file has bad rows; ``details`` is the list of row problems."""

    code = "E201"


class UnsupportedFormat(DataError):
    code = "E202"


class BadEncoding(DataError):
    code = "E203"


class FileAccessError(DataError):
    """A file or folder cannot be read or written (missing folder, permissions, full disk)."""

    code = "E204"


class EmptyText(DataError):
    code = "E210"
    http_status = 422


class TextTooLong(DataError):
    code = "E211"
    http_status = 422


class BatchTooLarge(DataError):
    code = "E212"
    http_status = 413


class MetadataOutOfRange(DataError):
    """A metadata number the priority and routing rules cannot compare (an integer beyond ±10^15)."""

    code = "E213"
    http_status = 422


# Batch scoring (classifier.batch.score). E223/E224 (with E210) are row-level: they are written into
# the row's `error` column and the run goes on; the others stop the run.
class ScoreOptionError(DataError):
    code = "E220"


class ColumnClash(DataError):
    """The input already has a column that scoring adds."""

    code = "E221"


class UnscorableFile(DataError):
    """No row of the file can be scored: the text column is missing, or there are no rows."""

    code = "E222"


class UnreadableRow(DataError):
    code = "E223"


class RowWithoutText(DataError):
    code = "E224"


class CheckpointExists(DataError):
    """An unfinished run's checkpoint is in the way and ``--resume`` was not given."""

    code = "E225"


class CheckpointMismatch(DataError):
    """The checkpoint belongs to another input, model or set of options (or is not one)."""

    code = "E226"


class ShardMismatch(DataError):
    """Shard outputs to merge miss rows or hold a row twice."""

    code = "E227"


class CheckpointLocked(DataError):
    """Another run is scoring into the same output right now."""

    code = "E228"


# Input files of batch commands (classifier/io/). E231 is row-level, like E223.
class UnknownEncoding(DataError):
    """``--encoding`` names no codec Python knows."""

    code = "E230"


class RunawayQuote(DataError):
    """A CSV quote that does not close properly; the line it opened on is reported on its own."""

    code = "E231"


class ColumnMapError(DataError):
    """A ``--map`` pair that names no column of the file, or maps two columns to one field."""

    code = "E232"


class RecordsUnaccounted(DataError):
    """Input records and output rows do not add up (a bug, never expected): the output is written,
    the summary says what is missing and ``triage score`` exits with status 3."""

    code = "E233"


class NotAScoredFile(DataError):
    """``triage report`` needs the columns ``triage score`` writes, and the columns it is told to use."""

    code = "E234"


class SheetNotFound(DataError):
    """``--sheet`` names no sheet of the workbook; the message lists the sheets there are."""

    code = "E235"


# --- E3xx: configuration -----------------------------------------------------------------
class ConfigError(TriageError):
    code = "E300"


class InvalidSetting(ConfigError):
    """A ``TRIAGE_*`` setting has a value the service cannot use (e.g. a malformed Redis URL)."""

    code = "E301"


# The working-day calendar (classifier/calendar.py, `triage calendar check|import`). An operator
# acts on these, often from a Chinese notice, so each carries its message in Chinese too
# (``message_zh``); the calendar commands print both.
class CalendarError(ConfigError):
    """The calendar family; E302 itself is the finding of `triage calendar check` and the service's
    check: a date within the window lies in a year without holiday data (deadlines there count
    Monday–Friday)."""

    code = "E302"

    def __init__(self, message: str, message_zh: str, details: Any = None):
        super().__init__(message, details)
        self.message_zh = message_zh

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "message_zh": self.message_zh}


class ScheduleInvalid(CalendarError):
    """A year's schedule (import file or ``calendar.schedules``) is malformed: a missing or
    unknown key, a value of the wrong type, a date that does not parse."""

    code = "E303"


class MakeUpNotWeekend(CalendarError):
    """A make-up working day (调休上班) that is Monday–Friday: those are working days anyway, so
    it is a typing slip (usually a neighbouring date or the wrong month)."""

    code = "E304"


class DateOutsideYear(CalendarError):
    """A date of a year's schedule that is not in that year (nor in the New Year bridge)."""

    code = "E305"


class ScheduleConflict(CalendarError):
    """A date listed twice in one schedule, or as a holiday and as a make-up working day."""

    code = "E306"


class YearAlreadyScheduled(CalendarError):
    """``triage calendar import`` of a year the config already holds a different schedule for."""

    code = "E307"


# --- E4xx: optional dependencies -----------------------------------------------------------
class MissingDependency(TriageError, ImportError):
    code = "E400"


class RayClusterNotFound(TriageError):
    """``--address auto`` (or ``RAY_ADDRESS=auto``) and no Ray cluster runs on this machine."""

    code = "E410"


class RayAddressUnreachable(TriageError):
    """Nothing answers at the Ray address given (a wrong host or port, a firewall, the wrong form):
    said within seconds instead of Ray's minutes of retries."""

    code = "E411"


class RayClientUnsupported(TriageError):
    """``--address ray://…``: Ray Data, which the Ray engine runs on its driver, does not run over
    Ray Client (its executor needs a driver that is part of the cluster); the message says what to
    run instead."""

    code = "E412"


def require(module: str, extra: str):
    """Import an optional heavy dependency lazily, with an actionable message when absent."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependency(
            f"{module} is required for this command: pip install 'feedback-triage[{extra}]'",
            details={"module": module, "extra": extra},
        ) from exc


# --- E5xx: the service (serving/http/errors.py); E6xx: training and export (training/errors.py) ---------
# Codes are unique across the three packages (tests/test_error_codes.py).
