"""The published shapes of liveness and readiness (GET /healthz, /readyz)."""
from __future__ import annotations

from datetime import date
from typing import Literal, Optional

from pydantic import (
    BaseModel,
    Field,
)



# --- health ------------------------------------------------------------------------------------


class Health(BaseModel):
    status: Literal["ok"]


class CalendarCoverage(BaseModel):
    ok: bool = Field(description="Every date from today through the window has holiday data")
    covered_until: date = Field(description="Last date of the unbroken covered run from today")
    window_days: int = Field(description="TRIAGE_CALENDAR_WINDOW_DAYS")
    uncovered_years: list[int] = Field(description="Years within the window without holiday data")
    affected_from: Optional[date] = Field(
        None, description="First receipt date from today whose longest deadline reaches an uncovered year")
    message: str
    message_zh: str


class Readiness(BaseModel):
    status: Literal["ready"]
    model_version: str
    database: Literal["ok", "unreachable"] = Field(
        description="unreachable: the database has not answered for less than the readiness grace "
                    "(TRIAGE_READY_DATABASE_GRACE_SECONDS); the pod stays ready meanwhile")
    calendar: CalendarCoverage = Field(description="Working-day calendar coverage (informational: a missing year "
                                                   "makes deadlines approximate, not the service unready)")
