"""Request and response bodies of the ticket API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, StringConstraints

from opsdesk.workspace.schema import TicketStatus


def _reject_control_characters(value: str) -> str:
    """Raise ValueError if `value` contains a C0 control character other than tab, LF or CR.

    PostgreSQL cannot store U+0000 in text or JSON columns, and the other control characters
    do not belong in text that people type.
    """
    for char in value:
        if char < " " and char not in "\t\n\r":
            raise ValueError(f"contains the control character U+{ord(char):04X}; remove it")
    return value


NoControlCharacters = AfterValidator(_reject_control_characters)
QueryText = Annotated[str, NoControlCharacters]
"""A text query parameter. Control characters get a 422, because PostgreSQL cannot bind U+0000."""
Text200 = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), NoControlCharacters
]
Phone = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=5, max_length=40, pattern=r"^\+?[0-9 ()\-.]+$"
    ),
]
LIMITS = {"subject": 200, "description": 10_000, "site_address": 500, "body": 20_000}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IntakeRequest(Strict):
    """A customer request from the portal, the widget or another system."""

    name: Text200 = Field(description="The customer's name.")
    email: EmailStr = Field(max_length=320)
    phone: Phone | None = Field(default=None, description="Required for phone-call requests.")
    service_type: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    contact_method: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)
    ]
    priority: (
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None
    ) = Field(default=None, description="The workspace's default priority when absent.")
    subject: Text200
    description: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=LIMITS["description"]),
        NoControlCharacters,
    ]
    site_address: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, min_length=1, max_length=LIMITS["site_address"]
            ),
            NoControlCharacters,
        ]
        | None
    ) = Field(default=None, description="Required for site-visit requests.")


class IntakeResponse(BaseModel):
    reference: str
    status: str
    status_url: str = Field(description="The request's status as JSON (this API).")
    status_page_url: str = Field(description="The customer's status page, to send them.")
    first_response_due: datetime | None
    resolution_due: datetime | None


class PublicMessage(BaseModel):
    author: Literal["customer", "agent"]
    body: str
    created_at: datetime


class PublicStatus(BaseModel):
    """The part of a request that its customer may see."""

    reference: str
    subject: str
    status: str
    status_name: str
    service_type: str
    priority: str
    created_at: datetime
    first_response_due: datetime | None
    resolution_due: datetime | None
    messages: list[PublicMessage]


class ReplyRequest(Strict):
    body: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=LIMITS["body"]),
        NoControlCharacters,
    ]


class TicketUpdate(Strict):
    status: TicketStatus | None = None
    priority: str | None = Field(default=None, max_length=64)
    team: str | None = Field(default=None, max_length=64)
    assignee_email: EmailStr | None = None
    contact_method: str | None = Field(
        default=None, max_length=64, description="May select another SLA policy."
    )
    reason: Annotated[str, NoControlCharacters] | None = Field(
        default=None, max_length=500, description="Written to the timeline."
    )


class ClockView(BaseModel):
    id: int
    metric: str
    cycle: int
    task: str | None
    state: Literal["running", "paused", "met", "breached", "stopped"]
    target_seconds: int | None
    due_at: datetime | None
    due_override_at: datetime | None = Field(
        description="Set when a supervisor fixed the due by hand."
    )
    warn_at: datetime | None
    started_at: datetime
    stopped_at: datetime | None
    warned_at: datetime | None
    breached_at: datetime | None
    business_seconds_elapsed: float
    paused_business_seconds: float
    calendar: str
    policy: str


class ResolutionRisk(BaseModel):
    """An open task whose operational clock endangers the ticket's resolution."""

    task: str
    title: str
    reason: str
    operational_due: datetime | None
    resolution_due: datetime | None


class TimelineView(BaseModel):
    at: datetime
    kind: str
    actor: str
    message: str
    task: str | None
    clock_id: int | None
    data: dict[str, Any]


class MessageView(BaseModel):
    id: int
    author_kind: str
    author_email: str | None
    public: bool
    body: str
    created_at: datetime


class TaskSummary(BaseModel):
    reference: str
    title: str
    pipeline: str
    stage: str
    priority: str
    team: str | None
    assignee_email: str | None
    due_at: datetime | None
    completed_at: datetime | None


class TicketSummary(BaseModel):
    reference: str
    subject: str
    status: str
    priority: str
    service_type: str
    pipeline: str
    contact_method: str
    channel: str
    team: str | None
    assignee_email: str | None
    requester_name: str
    requester_email: str | None
    created_at: datetime
    updated_at: datetime
    first_response_due: datetime | None
    resolution_due: datetime | None
    breached: bool


class TicketDetail(TicketSummary):
    description: str
    requester_phone: str | None
    site_address: str | None
    sla_policy: str
    external_ref: str | None
    first_response_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    clocks: list[ClockView]
    tasks: list[TaskSummary]
    messages: list[MessageView]
    timeline: list[TimelineView]
    resolution_risks: list[ResolutionRisk] = Field(
        description="Open tasks whose operational clocks endanger the resolution due."
    )


class TicketPage(BaseModel):
    items: list[TicketSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get the next page.")
