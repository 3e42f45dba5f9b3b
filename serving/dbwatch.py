"""Which request is waiting on the database, and since when.

A frozen database server (SIGSTOP, a hung storage volume, a network path that drops packets
silently) never answers and never closes the connection: the kernel still acknowledges TCP, so
neither socket timeouts nor keepalives fire, and PostgreSQL's own ``statement_timeout`` runs in
the frozen process. Only the client can notice. The pool's checkout marks the current request as
"in the database" until checkin (the mark travels into worker threads with the request's
context variables); the request deadline in serving/middleware.py answers 503 E522 once a mark is
older than ``db_timeout_seconds``, without waiting for the stuck thread.

The pre-ping runs here too, inside the mark (SQLAlchemy's ``pool_pre_ping`` would run before the
checkout event, unwatched): the documented "pessimistic disconnect handling" recipe — a failed
ping raises ``DisconnectionError`` and the pool retries with a fresh connection.
"""
from __future__ import annotations

import contextvars
import time
from typing import Any

from sqlalchemy import Engine, event, exc

_activity: contextvars.ContextVar["Activity | None"] = contextvars.ContextVar("triage_db_activity", default=None)


class Activity:
    """Per request: when its oldest open database connection was checked out (monotonic)."""

    __slots__ = ("since", "open")

    def __init__(self) -> None:
        self.since: float | None = None
        self.open = 0

    def stalled_for(self, now: float | None = None) -> float:
        since = self.since
        return 0.0 if since is None else (now or time.monotonic()) - since


def begin_request() -> tuple[Activity, contextvars.Token]:
    activity = Activity()
    return activity, _activity.set(activity)


def end_request(token: contextvars.Token) -> None:
    _activity.reset(token)


def watch(engine: Engine, ping: bool = True) -> None:
    """Mark checkouts for the current request and ping each reused connection."""

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        activity = _activity.get()
        if activity is not None:
            if activity.open == 0:
                activity.since = time.monotonic()
            activity.open += 1
            record.info["triage_activity"] = activity
        if not ping:
            return
        try:
            engine.dialect.do_ping(dbapi_conn)  # the dialect's own ping (autocommit-safe on psycopg)
        except Exception as e:  # noqa: BLE001 - any failure: discard this connection, try another
            _release(record)
            raise exc.DisconnectionError(type(e).__name__) from e

    @event.listens_for(engine.pool, "checkin")
    def _checkin(dbapi_conn: Any, record: Any) -> None:
        _release(record)


def _release(record: Any) -> None:
    activity = record.info.pop("triage_activity", None)
    if activity is not None:
        activity.open = max(0, activity.open - 1)
        if activity.open == 0:
            activity.since = None
