"""HTML pages for people (the JSON API is for machines): the priority-matrix heatmap and the pages that
show a server-rendered view under filters (the review workspace is serving/review/page.py).

The templates are serving/templates/matrix.html and filtered_view.html, rendered by the platform's one
jinja Environment (serving/http/templates.py; autoescaping on: filter values come from the query string).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from classifier.labels import CATEGORY, DISPLAY_ZH, URGENCY
from serving.http.errors import messages_zh
from serving.http.templates import QUADRANT_ZH, render

SHADES = 10  # serving/static/views.css: .shade-0 (white) .. .shade-10 (the busiest cell's red)


def shade(n: int, peak: int) -> int:
    """The heatmap class of a count: its share of the busiest cell, in tenths."""
    return round(SHADES * n / peak) if peak else 0


def render_matrix(payload: dict[str, Any]) -> str:
    cells = payload["cells"]
    flat = [n for row in payload["by_category"].values() for n in row.values()]
    flat += [n for row in payload["by_urgency"].values() for n in row.values()]
    return render(
        "matrix.html", total=payload["total"], filters=payload["filters"], cells=cells,
        peak=max([*cells.values(), 0]), peak_table=max([*flat, 0]), shade=shade,
        by_category=payload["by_category"], by_urgency=payload["by_urgency"],
        quadrant_levels=payload["quadrant_levels"], quadrants=list(QUADRANT_ZH), quadrant_zh=QUADRANT_ZH,
        categories=CATEGORY, urgency_labels=URGENCY, zh=DISPLAY_ZH,
    )


# --- filtered-view pages (priority matrix, insights) ----------------------------------------------
# The view itself is rendered by the server (render_matrix for GET /v1/matrix.html, and
# serving/insights/service.py for GET /v1/insights.html); a page only asks for the key and the filters,
# fetches that HTML with the key in the header (serving/static/filtered_view.js) and shows it in a
# sandboxed frame without scripts.
@lru_cache(maxsize=None)
def render_filtered_view_page(title: str, view_path: str, frame_id: str, tall: bool = False) -> str:
    """A page for a server-rendered view under the time-range, channel and category filters."""
    return render("filtered_view.html", title=title, view_path=view_path, frame_id=frame_id,
                  frame_class="view tall" if tall else "view", categories=CATEGORY, zh=DISPLAY_ZH,
                  errors_zh=messages_zh())


def render_matrix_page() -> str:
    return render_filtered_view_page("投诉优先级矩阵 · Priority matrix", "/v1/matrix.html", "heatmap")
