"""Response and request bodies of the SLA API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from opsdesk.tickets.schemas import ClockView, NoControlCharacters, ResolutionRisk


class ClockEvent(BaseModel):
    """One entry of a clock's own timeline: start, pause, resume, warning, breach and so on."""

    at: datetime
    kind: str
    actor: str
    message: str
    data: dict[str, Any]


class ClockDetail(ClockView):
    timeline: list[ClockEvent]


class TicketSla(BaseModel):
    reference: str
    priority: str
    policy: str
    policy_name: str
    calendar: str
    clocks: list[ClockDetail]
    resolution_risks: list[ResolutionRisk]


class DueOverride(BaseModel):
    model_config = ConfigDict(extra="forbid")

    due_at: AwareDatetime | None = Field(description="The new due instant, or null to clear it.")
    reason: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=500),
        NoControlCharacters,
    ] = Field(description="Why the due changed; written to the timeline.")
