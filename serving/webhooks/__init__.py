"""Webhooks: subscriptions (admin API, `triage webhooks`), signing, and the worker that delivers the
outbox's events (serving/db/outbox.py) to them, at least once, in order per subscription."""
