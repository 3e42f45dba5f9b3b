"""Structured JSON logs carrying the request id.

Each line is one JSON object: ``ts``, ``level``, ``logger``, ``msg``, ``request_id`` (when inside a
request) and any ``extra={...}`` fields. Texts are never logged; anything user-typed that is
(ids, metadata) goes through classifier.text.pii first.
"""
from __future__ import annotations

import contextvars
import json
import logging
import sys
import traceback
from datetime import datetime, timezone

from classifier.text.pii import mask_text

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# LogRecord attributes that are not "extra" fields.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "taskName", "request_id",
    "color_message",  # uvicorn's ANSI-coloured duplicate of msg
}


def _install_record_factory() -> None:
    """Stamp every record with the current request id when it is created (in the request's
    context), not when a handler formats it, which may happen later or elsewhere."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "_triage", False):
        return

    def factory(*args, **kwargs):  # noqa: ANN002, ANN003
        record = previous(*args, **kwargs)
        record.request_id = request_id_var.get()
        return record

    factory._triage = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(factory)


_install_record_factory()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),  # a last line of defence: messages quoting input
        }
        rid = getattr(record, "request_id", None) or request_id_var.get()
        if rid:
            entry["request_id"] = rid
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            # Server-side only: responses never carry traces.
            entry["exc_type"] = record.exc_info[0].__name__ if record.exc_info[0] else None
            entry["traceback"] = mask_text("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO", json_format: bool = True) -> None:
    """Route the root, ``triage.*`` and uvicorn loggers to one stderr handler (idempotent)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_triage", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(sys.stderr)
    handler._triage = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if json_format else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers = []
        logger.propagate = True
    # Our middleware writes one access line per request with route, status and latency.
    logging.getLogger("uvicorn.access").disabled = True
