"""One router per resource: classify, matrix, review, health, metrics."""
