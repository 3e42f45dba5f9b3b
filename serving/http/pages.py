"""What every page for people shares: the quadrants' Chinese names in the matrix's order (the pages'
shared script is serving/static/page.js, their templates serving/templates/, see serving/http/templates.py)."""
from __future__ import annotations

from classifier.labels import DISPLAY_ZH
from classifier.priority import IMPORTANT_NOT_URGENT, NOT_URGENT_NOT_IMPORTANT, URGENT_IMPORTANT, URGENT_NOT_IMPORTANT

# The quadrants in the matrix's order, named as everywhere else (classifier.labels.DISPLAY_ZH).
QUADRANT_ZH = {q: DISPLAY_ZH[q] for q in (URGENT_IMPORTANT, IMPORTANT_NOT_URGENT, URGENT_NOT_IMPORTANT,
                                          NOT_URGENT_NOT_IMPORTANT)}
