"""Which request is waiting on the database, and since when.

A frozen database server (SIGSTOP, a hung storage volume, a network path that drops packets
silently) never answers and never closes the connection: the kernel still acknowledges TCP, so
neither socket timeouts nor keepalives fire, and PostgreSQL's own ``statement_timeout`` runs in
the frozen process. Only the client can notice. The pool's checkout marks the current request as
"in the database" until checkin (the mark travels into worker threads with the request's
context variables); the request deadline in serving/http/middleware.py answers 503 E522 once a mark is
older than ``db_timeout_seconds``, without waiting for the stuck thread, and marks the request
abandoned: when the database thaws, that thread's transaction rolls back at commit, so a request
answered 503/504 has changed nothing. (POST /v1/classify writes through the group-commit thread
instead; its retries are made safe by the Idempotency-Key, serving/http/idempotency.py.)

The pre-ping runs here too, inside the mark (SQLAlchemy's ``pool_pre_ping`` would run before the
checkout event, unwatched): the documented "pessimistic disconnect handling" recipe — a failed
ping raises ``DisconnectionError`` and the pool retries with a fresh connection.
"""
from __future__ import annotations

import contextvars
import time
from concurrent.futures import Future
from typing import Any

from sqlalchemy import Engine, event, exc

_activity: contextvars.ContextVar["Activity | None"] = contextvars.ContextVar("triage_db_activity", default=None)


class AbandonedRequest(Exception):
    """Raised at commit in the work of a request that has been answered with 503/504 already."""


class Activity:
    """Per request: when its oldest open database connection was checked out (monotonic), and
    whether the request was given up (its late work then rolls back instead of committing)."""

    __slots__ = ("since", "open", "abandoned", "commit")

    def __init__(self) -> None:
        self.since: float | None = None
        self.open = 0
        self.abandoned = False
        # The request's write job on the group-commit writer (serving/classify/pipeline.py), once queued:
        # the deadline may answer only if it can still cancel it (a started write is answered by
        # its outcome, so a committed row never gets a 503).
        self.commit: Future | None = None

    def stalled_for(self, now: float | None = None) -> float:
        since = self.since
        return 0.0 if since is None else (now or time.monotonic()) - since


def current() -> Activity | None:
    """The current request's activity (None outside a request)."""
    return _activity.get()


def begin_request() -> tuple[Activity, contextvars.Token]:
    activity = Activity()
    return activity, _activity.set(activity)


def end_request(token: contextvars.Token) -> None:
    _activity.reset(token)


def watch(engine: Engine, ping: bool = True) -> None:
    """Mark checkouts for the current request and ping each reused connection."""

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        # The client was told 503/504: a write that finishes after the database thaws must not
        # commit behind its back (raised before the COMMIT is sent: the transaction rolls back).
        activity = _activity.get()
        if activity is not None and activity.abandoned:
            raise AbandonedRequest("the request was answered before its database work finished; rolled back")

    @event.listens_for(engine, "do_connect")
    def _connect(dialect: Any, record: Any, cargs: Any, cparams: Any) -> Any:
        # A new connection to a frozen server waits for libpq's connect_timeout (2 s at least):
        # watched too, so the request answers at the database timeout.
        activity = _activity.get()
        if activity is None:
            return None  # the dialect connects as usual
        _enter(activity)
        try:
            return dialect.connect(*cargs, **cparams)
        finally:
            _leave(activity)

    @event.listens_for(engine.pool, "checkout")
    def _checkout(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        activity = _activity.get()
        if activity is not None:
            _enter(activity)
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


def _enter(activity: Activity) -> None:
    if activity.open == 0:
        activity.since = time.monotonic()
    activity.open += 1


def _leave(activity: Activity) -> None:
    activity.open = max(0, activity.open - 1)
    if activity.open == 0:
        activity.since = None


def _release(record: Any) -> None:
    activity = record.info.pop("triage_activity", None)
    if activity is not None:
        _leave(activity)
