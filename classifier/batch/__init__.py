"""Batch files: reading and writing table files (``tables``), scoring a whole file (``score``)
and its command line (``score_cli``). Kept apart from inference (``classifier.runtime``) and the
decision rules (``classifier.priority``, ``classifier.routing``), which they only call."""
