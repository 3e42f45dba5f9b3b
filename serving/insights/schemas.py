"""The published shapes of the priority matrix (GET /v1/matrix)."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
)



# --- priority matrix ---------------------------------------------------------------------------


class MatrixFilters(BaseModel):
    from_: Optional[datetime] = Field(None, alias="from")
    to: Optional[datetime] = None
    channel: Optional[str] = None
    category: Optional[str] = None

    model_config = ConfigDict(populate_by_name=True)


class MatrixResponse(BaseModel):
    filters: MatrixFilters
    total: int
    cells: dict[str, int] = Field(description="Count per quadrant (urgent × important)")
    by_category: dict[str, dict[str, int]] = Field(description="Count per category and quadrant")
    by_urgency: dict[str, dict[str, int]] = Field(
        description="Count per model urgency label and importance (important / not_important)"
    )
    quadrant_levels: dict[str, str] = Field(description="Priority level of each quadrant")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "filters": {"from": "2026-11-01T00:00:00+08:00", "to": None, "channel": "app", "category": None},
                    "total": 3,
                    "cells": {"urgent_important": 1, "important_not_urgent": 1, "urgent_not_important": 0,
                              "not_urgent_not_important": 1},
                    "by_category": {"fees": {"urgent_important": 0, "important_not_urgent": 1, "urgent_not_important": 0,
                                             "not_urgent_not_important": 0}},
                    "by_urgency": {"high": {"important": 1, "not_important": 0}},
                    "quadrant_levels": {"urgent_important": "P1", "important_not_urgent": "P2",
                                        "urgent_not_important": "P3", "not_urgent_not_important": "P4"},
                }
            ]
        },
        populate_by_name=True,
    )
