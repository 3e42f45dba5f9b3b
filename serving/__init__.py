"""HTTP service: classify endpoint, priority matrix, persistence, API keys, metrics, pages.

Features over a small platform (an import-linter contract in pyproject.toml keeps it so):

- entry points: ``app`` (the FastAPI application) and ``cli`` (``triage serve|db|keys|review``);
- features, which never import each other: ``classify`` (POST /v1/classify), ``review`` (the supervisor
  workspace: queue, items, decisions, explanations, its page), ``insights`` (the priority matrix and the
  insights report), ``ops`` (health and readiness, Prometheus, hot reload);
- ``deps`` (FastAPI dependencies) over ``services`` (what a request needs, built at start-up);
- the platform: ``http`` (errors, middleware, handlers, validation, logs, metrics, schemas, page
  templates and static files, Idempotency-Key), ``security`` (keys, roles, rate limits), ``db`` (engine, tables, store,
  derived and sort columns, migrations), ``inference`` (model slot, micro-batcher), ``calendar_watch``;
  ``settings`` under all.

Imports point serving → classifier; never serving → training (and never torch).
"""
