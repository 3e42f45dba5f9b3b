"""``triage serve`` and ``triage keys``, plugged into the ``triage`` CLI through entry points.

Both use the same settings as the app (``DATABASE_URL``, ``TRIAGE_*``), so keys created here are
the keys the server accepts. ``keys create`` prints the new key alone on stdout (scripts can
capture it); everything else goes to stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
from contextlib import contextmanager

from classifier.errors import TriageError
from serving.http.errors import NotFound

# Operator commands (keys, review export) may read whole tables: not the service's short timeout.
CLI_DB_TIMEOUT = 600.0


def register_serve(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("serve", help="run the HTTP API (uvicorn)", description="Run the classification API.")
    p.add_argument("--host", help="bind address (default: TRIAGE_HOST, else 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (default: TRIAGE_PORT, else 8000)")
    p.add_argument("--workers", type=int,
                   help="worker processes (default: TRIAGE_SERVER_PROCESSES, else 1: ONNX Runtime already uses "
                        "every core in one process)")
    p.add_argument("--bundle", metavar="DIR",
                   help="model bundle directory (default: TRIAGE_BUNDLE_DIR, else the shipped models/default)")
    p.set_defaults(func=_serve)


def register_db(subparsers: argparse._SubParsersAction) -> None:
    from serving.db import engine as db  # noqa: F401 - without the [serve] extra: a stub naming it (classifier/cli.py)

    p = subparsers.add_parser("db", help="database schema", description="Database schema (DATABASE_URL / TRIAGE_DATABASE_URL).")
    actions = p.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    migrate = actions.add_parser(
        "migrate", help="apply the Alembic migrations and exit",
        description="Bring the database schema up to date (what `triage serve` does at start unless "
                    "TRIAGE_MIGRATE_ON_START=false): run it once per release, e.g. as the Kubernetes migration Job, "
                    "so replicas do not race.")
    migrate.set_defaults(func=_db_migrate)


def register_keys(subparsers: argparse._SubParsersAction) -> None:
    # Imported before the parser exists: without the [serve] extra this raises ImportError and the
    # CLI root registers a stub that says which extra is missing (not an empty ACTION list).
    from serving.security.auth import ROLES

    p = subparsers.add_parser("keys", help="manage API keys", description="Create, list and revoke API keys.")
    actions = p.add_subparsers(dest="keys_action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="create a key; prints it alone on stdout (shown only once)")
    create.add_argument("--role", required=True, choices=ROLES, help="ingest: classify; supervisor: matrix and review; admin: all")
    create.add_argument("--name", help="free-text label, e.g. the ticket system's name")
    create.set_defaults(func=_keys_create)

    listing = actions.add_parser("list", help="list keys (prefix, role, created, revoked)")
    listing.set_defaults(func=_keys_list)

    revoke = actions.add_parser("revoke", help="revoke a key by id or prefix")
    revoke.add_argument("key", metavar="KEY_ID_OR_PREFIX")
    revoke.set_defaults(func=_keys_revoke)


def register_review(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("review", help="supervisors' review decisions", description="Review decisions.")
    actions = p.add_subparsers(dest="review_action", metavar="ACTION", required=True)
    export = actions.add_parser(
        "export", help="write reviewed items as labelled training rows (.jsonl .csv .xlsx .parquet)",
        description="Every reviewed item with the labels its reviewer confirmed or corrected, in the labelled-data "
                    "schema (id, text, category, category_secondary, sentiment, urgency, source) followed by the "
                    "caller's item_id, request_id, metadata, model_version, revision and reviewed_at; add the file to "
                    "`extra_train_files` of a training config. Texts are the stored, PII-masked ones.",
    )
    export.add_argument("--out", required=True, help="output file; the format follows the extension")
    export.add_argument("--since", help="only items reviewed at or after this ISO 8601 time (no offset = UTC)")
    export.set_defaults(func=_review_export)


def register_webhooks(subparsers: argparse._SubParsersAction) -> None:
    from serving.db.outbox import EVENT_TYPES

    p = subparsers.add_parser("webhooks", help="webhook subscriptions and their delivery log",
                              description="Subscribe URLs to the service's events (docs/integrators.md, Webhooks); "
                                          "the running service delivers them.")
    actions = p.add_subparsers(dest="webhooks_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="subscribe a URL; prints its signing secret alone on stdout (shown only once)")
    add.add_argument("url", help="http(s) URL the service POSTs to (reachable from where the service runs)")
    add.add_argument("--events", default=",".join(EVENT_TYPES),
                     help=f"comma-separated event types (default: all: {','.join(EVENT_TYPES)})")
    add.add_argument("--description", help="free text, e.g. the receiving system")
    add.set_defaults(func=_webhooks_add)
    listing = actions.add_parser("list", help="list subscriptions with their delivery counts")
    listing.set_defaults(func=_webhooks_list)
    remove = actions.add_parser("remove", help="delete a subscription (its pending deliveries are cancelled)")
    remove.add_argument("id", type=int)
    remove.set_defaults(func=_webhooks_remove)
    rotate = actions.add_parser("rotate-secret", help="a new signing secret, printed alone on stdout (shown only once); "
                                                      "the previous one keeps signing beside it for --overlap-hours")
    rotate.add_argument("id", type=int)
    rotate.add_argument("--overlap-hours", type=float, default=24.0,
                        help="how long deliveries carry a second signature with the previous secret (0: stop it at "
                             "once, for a leaked secret; at most 7 days)")
    rotate.set_defaults(func=_webhooks_rotate)
    log = actions.add_parser("deliveries", help="the delivery log, newest event first")
    log.add_argument("id", type=int, nargs="?", help="only this subscription's")
    log.add_argument("--status", choices=("pending", "delivered", "failed", "cancelled"))
    log.add_argument("--limit", type=int, default=20)
    log.set_defaults(func=_webhooks_deliveries)


# --- serve ------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from classifier.bundle import verify
    from classifier.priority import PriorityMatrix
    from classifier.routing import Router
    from serving.db import engine as db
    from serving.http.logs import configure_logging
    from serving.settings import get_settings

    if args.bundle:
        # Through the environment so that every worker process sees it.
        os.environ["TRIAGE_BUNDLE_DIR"] = args.bundle
    get_settings.cache_clear()
    settings = get_settings()
    workers = args.workers if args.workers is not None else settings.server_processes
    if workers < 1:
        raise TriageError("--workers must be at least 1")

    tls = {"ssl_certfile": settings.tls_certfile, "ssl_keyfile": settings.tls_keyfile}
    if (settings.tls_certfile is None) != (settings.tls_keyfile is None):
        raise TriageError("TLS needs both TRIAGE_TLS_CERTFILE and TRIAGE_TLS_KEYFILE (or neither)")
    for name, path in tls.items():
        if path is not None and not path.is_file():
            raise TriageError(f"{'TRIAGE_TLS_CERTFILE' if name == 'ssl_certfile' else 'TRIAGE_TLS_KEYFILE'} is not a file")

    # Fail here, with one clear message, rather than in each worker: bundle, rules, database.
    verify(settings.bundle_dir)
    PriorityMatrix.from_yaml(settings.priority_config)
    Router.from_yaml(settings.routing_config)
    engine = db.make_engine(settings.database_url, timeout=CLI_DB_TIMEOUT)
    db.migrate(engine)
    engine.dispose()

    configure_logging(settings.log_level, settings.log_json)

    # Each worker process takes its share of the cores for its model threads (serving/settings.py).
    os.environ["TRIAGE_SERVER_PROCESSES"] = str(workers)
    uvicorn.run(
        "serving.app:serve_app",
        factory=True,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=workers,
        log_config=None,  # ours: JSON lines with request ids
        access_log=False,  # our middleware logs one line per request
        timeout_graceful_shutdown=30,
        **({k: str(v) for k, v in tls.items()} if settings.tls_certfile else {}),
    )
    return 0


# --- db ---------------------------------------------------------------------------------------


def _db_migrate(args: argparse.Namespace) -> int:
    from serving.db import engine as db
    from serving.settings import Settings

    engine = db.make_engine(Settings().database_url)
    try:
        db.migrate(engine)
    finally:
        engine.dispose()
    print("database schema is up to date", file=sys.stderr)
    return 0


# --- keys -------------------------------------------------------------------------------------


@contextmanager
def _sessions():
    """Sessions on the configured database (migrated first), its engine disposed on leaving."""
    from serving.db import engine as db
    from serving.settings import Settings

    engine = db.make_engine(Settings().database_url, timeout=CLI_DB_TIMEOUT)
    try:
        db.migrate(engine)
        yield db.make_sessionmaker(engine)
    finally:
        engine.dispose()


def _keys_create(args: argparse.Namespace) -> int:
    from serving.security.auth import create_key

    with _sessions() as sessions:
        with sessions.begin() as session:
            row, key = create_key(session, args.role, args.name)
            key_id, prefix = row.id, row.prefix
    print(key)
    print(f"created key {key_id} ({prefix}…) with role {args.role}; it is shown only this once", file=sys.stderr)
    return 0


def _keys_list(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from serving.db.tables import ApiKey

    with _sessions() as sessions:
        with sessions() as session:
            rows = list(session.scalars(select(ApiKey).order_by(ApiKey.id)))
    if not rows:
        print("no keys; create one with: triage keys create --role ingest", file=sys.stderr)
        return 0
    print(f"{'ID':>4}  {'PREFIX':<14}{'ROLE':<12}{'CREATED (UTC)':<21}{'STATUS':<28}NAME")
    for r in rows:
        status = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        print(f"{r.id:>4}  {r.prefix:<14}{r.role:<12}{r.created_at:%Y-%m-%d %H:%M:%S}  {status:<28}{r.name or ''}")
    return 0


def _keys_revoke(args: argparse.Namespace) -> int:
    from serving.security.auth import find_keys, revoke_key

    with _sessions() as sessions:
        with sessions.begin() as session:
            matches = find_keys(session, args.key.strip())
            if not matches:
                raise NotFound(f"no key matches {args.key!r} (give the id or the prefix shown by `triage keys list`)")
            if len(matches) > 1:
                raise NotFound(
                    f"{args.key!r} matches {len(matches)} keys; give more of the prefix or the id",
                    details=[f"{m.id} {m.prefix} {m.role}" for m in matches],
                )
            row = matches[0]
            if row.revoked_at is not None:
                print(f"key {row.id} ({row.prefix}…) was already revoked", file=sys.stderr)
                return 0
            released = revoke_key(session, row)
            key_id, prefix = row.id, row.prefix
    print(f"revoked key {key_id} ({prefix}…); servers stop accepting it within their auth cache time"
          + (f"; {released} review item(s) it had open are back in the queue" if released else ""), file=sys.stderr)
    return 0


# --- review -----------------------------------------------------------------------------------


def _review_export(args: argparse.Namespace) -> int:
    from datetime import datetime, timezone

    from classifier.io.tables import file_format, write_table
    from serving.review.store import EXPORT_FIELDS, export_rows

    file_format(args.out)  # an unsupported extension fails before the database is touched
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            raise TriageError(f"--since must be an ISO 8601 time such as 2026-12-01T09:00, got {args.since!r}") from None
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
    with _sessions() as sessions:
        rows, corrected = export_rows(sessions, since)
    write_table(args.out, rows, EXPORT_FIELDS)
    print(f"wrote {len(rows)} reviewed items ({corrected} with a corrected label) to {args.out}", file=sys.stderr)
    return 0


# --- webhooks ---------------------------------------------------------------------------------


def _webhooks_add(args: argparse.Namespace) -> int:
    from serving.webhooks import store

    with _sessions() as sessions:
        view, secret = store.create(sessions, args.url, args.events.split(","), args.description)
    print(secret)
    print(f"subscription {view['id']} to {view['url']} for {', '.join(view['events'])}; the secret above signs "
          "every delivery (Triage-Signature) and is shown only this once", file=sys.stderr)
    return 0


def _webhooks_list(args: argparse.Namespace) -> int:
    from serving.webhooks import store

    with _sessions() as sessions:
        rows = store.list_all(sessions)
    if not rows:
        print("no webhook subscriptions; add one with: triage webhooks add URL", file=sys.stderr)
        return 0
    print(f"{'ID':>4}  {'CREATED (UTC)':<21}{'PENDING':>8}{'SENT':>8}{'FAILED':>8}  {'EVENTS':<40}URL")
    for r in rows:
        d = r["deliveries"]
        print(f"{r['id']:>4}  {r['created_at'][:19].replace('T', ' '):<21}{d['pending']:>8}{d['delivered']:>8}"
              f"{d['failed']:>8}  {','.join(r['events']):<40}{r['url']}")
    return 0


def _webhooks_remove(args: argparse.Namespace) -> int:
    from serving.webhooks import store

    with _sessions() as sessions:
        store.delete(sessions, args.id)
    print(f"deleted webhook subscription {args.id}; its pending deliveries are cancelled", file=sys.stderr)
    return 0


def _webhooks_rotate(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from serving.webhooks import store

    with _sessions() as sessions:
        view, secret = store.rotate_secret(sessions, args.id, timedelta(hours=args.overlap_hours))
    print(secret)
    until = view["previous_secret_until"]
    print(f"subscription {view['id']} has a new signing secret (above, shown only this once); "
          + (f"the previous one also signs every delivery until {until}" if until else "the previous one no longer signs"),
          file=sys.stderr)
    return 0


def _webhooks_deliveries(args: argparse.Namespace) -> int:
    from serving.webhooks import store

    with _sessions() as sessions:
        rows = store.deliveries(sessions, args.id, status=args.status, limit=max(1, args.limit))
    if not rows:
        print("no deliveries", file=sys.stderr)
        return 0
    print(f"{'SUB':>4}  {'EVENT':<37}{'TYPE':<22}{'STATUS':<11}{'TRIES':>5}  LAST")
    for r in rows:
        last = r["log"][-1] if r["log"] else None
        what = "" if last is None else f"{last['at'][:19].replace('T', ' ')} {last['status_code'] or last['error']} " \
                                       f"{last['duration_ms']:.0f} ms"
        if r["status"] == "pending" and r["next_attempt_at"]:
            what += f" (next {r['next_attempt_at'][:19].replace('T', ' ')})"
        print(f"{r['subscription_id']:>4}  {r['event_id']:<37}{r['type']:<22}{r['status']:<11}{r['attempts']:>5}  {what}")
    return 0
