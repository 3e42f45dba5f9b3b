"""Feature: what stored results say — the priority matrix and the insights report."""
