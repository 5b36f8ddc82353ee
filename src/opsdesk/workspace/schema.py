"""The shape of a workspace file, as Pydantic models.

These models check each value on its own. Checks that relate one part of the file to
another (a pipeline naming a calendar that exists, and so on) live in `loader.py`.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, HttpUrl, field_validator

from opsdesk.calendars.durations import parse_duration

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"

Key = Annotated[str, Field(pattern=KEY_PATTERN, max_length=64)]
"""A lowercase snake_case identifier such as ``smart_home``."""


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: write it as a quoted string like PT4H")
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError(f'invalid duration "{value}": must be longer than zero')
    return duration


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Fraction = Annotated[float, Field(gt=0, lt=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"
    OPERATIONAL = "operational"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    PENDING_THIRD_PARTY = "pending_third_party"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Named(Strict):
    key: Key
    name: str = Field(min_length=1, max_length=120)


class Priority(Named):
    pass


class ContactMethod(Named):
    requires_phone: bool = False
    requires_site_address: bool = False


class Team(Named):
    pass


class Calendar(Strict):
    """Passed as a mapping to `BusinessCalendar.from_mapping`, which checks the details."""

    name: str | None = None
    timezone: str
    hours: dict[str, Any]
    holidays: list[Any] = Field(default_factory=list)

    def calendar_mapping(self) -> dict[str, Any]:
        return {"timezone": self.timezone, "hours": self.hours, "holidays": self.holidays}


class Stage(Named):
    pauses_sla: bool = Field(
        default=False, description="Tasks in this stage pause their operational clock."
    )
    completes: bool = Field(default=False, description="Tasks in this stage are done.")


class OperationalSla(Strict):
    targets: dict[Key, Duration] = Field(description="Priority key to working-time target.")
    warning_at: Fraction = 0.75


class Pipeline(Named):
    team: Key | None = None
    calendar: Key | None = Field(
        default=None, description="Calendar of the operational clocks; the default if absent."
    )
    stages: list[Stage] = Field(min_length=2)
    operational_sla: OperationalSla | None = None


class TaskTemplate(Strict):
    key: Key
    title: str = Field(min_length=1, max_length=200)
    pipeline: Key | None = Field(
        default=None, description="Pipeline of this task; the service type's when absent."
    )


class ServiceType(Named):
    pipeline: Key
    description: str | None = None
    tasks: list[TaskTemplate] = Field(default_factory=list)


class Conditions(Strict):
    """Every named field must match one of its listed values."""

    service_type: list[Key] | None = None
    pipeline: list[Key] | None = None
    contact_method: list[Key] | None = None
    priority: list[Key] | None = None
    channel: list[Key] | None = None

    @field_validator("*", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class MetricTargets(Strict):
    first_response: Duration | None = None
    next_response: Duration | None = None
    resolution: Duration | None = None


class StopOn(Strict):
    first_response: list[TicketStatus] = Field(
        default_factory=lambda: [TicketStatus.RESOLVED, TicketStatus.CLOSED]
    )
    resolution: list[TicketStatus] = Field(
        default_factory=lambda: [TicketStatus.RESOLVED, TicketStatus.CLOSED]
    )


class SlaPolicy(Named):
    when: Conditions | None = None
    calendar: Key | None = None
    targets: dict[Key, MetricTargets] = Field(description="Priority key to its targets.")
    warning_at: Fraction = 0.75
    pause_on: list[TicketStatus] = Field(
        default_factory=lambda: [
            TicketStatus.WAITING_ON_CUSTOMER,
            TicketStatus.PENDING_THIRD_PARTY,
        ]
    )
    pause_first_response: bool = False
    stop_on: StopOn = Field(default_factory=StopOn)
    next_response_from_creation: bool = False


class RaisePriority(Strict):
    action: Literal["raise_priority"]
    steps: int = Field(default=1, ge=1, le=10)


class SetPriority(Strict):
    action: Literal["set_priority"]
    priority: Key


class Reassign(Strict):
    action: Literal["reassign"]
    team: Key | None = None
    user: str | None = Field(default=None, description="E-mail address of a user.")


class SetStatus(Strict):
    action: Literal["set_status"]
    status: TicketStatus


class AddNote(Strict):
    action: Literal["add_note"]
    text: str = Field(min_length=1, max_length=2000)


class Notify(Strict):
    action: Literal["notify"]
    role: Literal["agent", "technician", "supervisor", "admin"] | None = None
    team: Key | None = None
    user: str | None = None
    message: str | None = Field(default=None, max_length=2000)


EscalationAction = Annotated[
    RaisePriority | SetPriority | Reassign | SetStatus | AddNote | Notify,
    Field(discriminator="action"),
]


class Escalation(Named):
    on: Literal["warning", "breach"]
    metrics: list[Metric] = Field(
        default_factory=lambda: [Metric.FIRST_RESPONSE, Metric.RESOLUTION],
        min_length=1,
    )
    when: Conditions | None = None
    actions: list[EscalationAction] = Field(min_length=1)


class Subscription(Strict):
    key: Key
    kind: Literal["webhook", "slack"] = "webhook"
    url: HttpUrl | None = Field(
        default=None, description="Empty (for example an unset ${VAR:-}) disables it."
    )
    secret: str | None = Field(default=None, description="whsec_ plus base64; webhook only.")
    events: list[str] = Field(min_length=1)
    description: str | None = None

    @field_validator("url", "secret", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class WorkspaceFile(Strict):
    name: str = Field(min_length=1, max_length=200)
    reference_prefix: str = Field(default="SR", pattern=r"^[A-Z]{1,6}$")
    default_calendar: Key
    default_priority: Key
    priorities: list[Priority] = Field(min_length=1)
    contact_methods: list[ContactMethod] = Field(min_length=1)
    calendars: dict[Key, Calendar] = Field(min_length=1)
    teams: list[Team] = Field(default_factory=list)
    pipelines: list[Pipeline] = Field(min_length=1)
    service_types: list[ServiceType] = Field(min_length=1)
    sla_policies: list[SlaPolicy] = Field(min_length=1)
    escalations: list[Escalation] = Field(default_factory=list)
    subscriptions: list[Subscription] = Field(default_factory=list)
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Web origins allowed to embed the request widget and call the intake API.",
    )
