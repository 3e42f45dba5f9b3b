"""How far the working-day calendar reaches, seen from the service.

A year without holiday data is not an outage — deadlines there count Monday–Friday and results
say ``calendar_uncovered`` — so it never makes the service unready. It is made hard to miss
instead: a warning at start and every ``calendar_check_interval_seconds`` (a day) while a date
within ``calendar_window_days`` of today is uncovered, the gauge ``triage_calendar_covered_until``
and a ``calendar`` entry in /readyz. The fix is the operator's: ``triage calendar import`` the
year's schedule and restart (docs/operators.md).
"""
from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time
from typing import Callable

from classifier.calendar import Coverage, coverage
from classifier.priority import PriorityMatrix

log = logging.getLogger("triage.calendar")


def today(matrix: PriorityMatrix) -> date:
    """Today in the matrix's time zone (the day deadlines count from)."""
    return datetime.now(matrix.tz).date()


def status(matrix: PriorityMatrix, window_days: int) -> Coverage:
    return coverage(matrix.calendar, today(matrix), window_days, matrix.longest_resolve_working_days)


def covered_until_timestamp(matrix: PriorityMatrix) -> float:
    """``triage_calendar_covered_until``: 00:00 of the last covered date, in the matrix's zone."""
    last = matrix.calendar.covered_until(today(matrix))
    return datetime.combine(last, time(0), tzinfo=matrix.tz).timestamp()


def readiness(matrix: PriorityMatrix, window_days: int) -> dict:
    cov = status(matrix, window_days)
    return {k: v for k, v in cov.to_dict().items()
            if k in ("ok", "covered_until", "window_days", "uncovered_years", "affected_from", "message", "message_zh")}


def check(matrix: PriorityMatrix, window_days: int) -> Coverage:
    """Log a warning when the window is not covered; returns the coverage either way."""
    cov = status(matrix, window_days)
    if not cov.ok:
        log.warning("working-day calendar: %s / %s", cov.message(), cov.message_zh(),
                    extra={"covered_until": cov.covered_until.isoformat(), "uncovered_years": list(cov.uncovered_years),
                           "window_days": window_days})
    return cov


async def watch(matrix: Callable[[], PriorityMatrix], window_days: int, interval: float) -> None:
    """Check every ``interval`` seconds until cancelled (the start-up check is the caller's)."""
    while True:
        await asyncio.sleep(interval)
        try:
            check(matrix(), window_days)
        except Exception:  # noqa: BLE001 - a bug here must not end the watch, nor the service
            log.exception("working-day calendar check failed")
