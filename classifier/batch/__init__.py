"""Batch scoring: a whole file scored (``score``), its command line (``score_cli``) and the same
stages on a Ray cluster (``ray_engine``). Kept apart from inference (``classifier.runtime``), the
decision rules (``classifier.priority``, ``classifier.routing``) and the table files
(``classifier.io``), which they only call."""
