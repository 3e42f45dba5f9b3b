"""Feature: the supervisor workspace — the review queue, items, decisions, explanations and the page."""
