"""The shape of a workspace file, as Pydantic models.

These models check each value on its own. Checks that relate one part of the file to
another (a pipeline naming a calendar that exists, and so on) live in `loader.py`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, HttpUrl, field_validator, model_validator

from opsdesk.automation.schema import Rule
from opsdesk.schema_types import (
    KEY_PATTERN,
    Duration,
    Fraction,
    Key,
    Metric,
    Named,
    Offset,
    Strict,
    TicketStatus,
)

__all__ = [
    "KEY_PATTERN",
    "Duration",
    "Fraction",
    "Key",
    "Metric",
    "Named",
    "Strict",
    "TicketStatus",
]


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


class LadderLevel(Strict):
    """One step of an escalation ladder, at an offset from the clock's due instant."""

    key: Key
    offset: Offset = Field(
        default=timedelta(0), description="-PT1H is an hour before the due, PT2H two hours after."
    )
    clock: Literal["business", "wall"] = Field(
        default="business", description="Measure the offset in working time or elapsed time."
    )
    repeat_every: Duration | None = Field(
        default=None, description="Fire again at this interval (elapsed time) until acknowledged."
    )
    actions: list[EscalationAction] = Field(min_length=1)


class Escalation(Named):
    """Either a single step on the SLA warning or breach (`on` with `actions`), or a ladder
    of `levels` at offsets from the due instant."""

    on: Literal["warning", "breach"] | None = None
    levels: list[LadderLevel] | None = Field(default=None, min_length=1)
    metrics: list[Metric] = Field(
        default_factory=lambda: [Metric.FIRST_RESPONSE, Metric.RESOLUTION],
        min_length=1,
    )
    when: Conditions | None = None
    actions: list[EscalationAction] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_form(self) -> Escalation:
        if self.levels is not None:
            if self.on is not None or self.actions is not None:
                raise ValueError(
                    "an escalation with levels takes its actions per level; remove on and actions"
                )
            keys = [level.key for level in self.levels]
            if len(set(keys)) != len(keys):
                raise ValueError(f"level keys must be unique within an escalation, got {keys}")
        elif self.on is None or self.actions is None:
            raise ValueError("an escalation needs either on and actions, or levels")
        return self


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


BODY_PATH_PATTERN = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"


class InboundValue(Strict):
    """A constant (`value`) or a value read from the request body at `field`, a dotted path.

    A read value may be translated through `map`. `default` is used when the field is
    missing or its value has no entry in `map`.
    """

    value: str | None = None
    field: str | None = Field(default=None, pattern=BODY_PATH_PATTERN, max_length=200)
    map: dict[str, str] | None = None
    default: str | None = None

    @model_validator(mode="after")
    def _one_source(self) -> InboundValue:
        if (self.value is None) == (self.field is None):
            raise ValueError("give exactly one of value (a constant) or field (a body path)")
        if self.value is not None and (self.map is not None or self.default is not None):
            raise ValueError("map and default apply to field only; remove them or use field")
        return self


class InboundCreate(Strict):
    """The mapping from a message whose external id has no ticket yet to a new ticket."""

    service_type: InboundValue
    contact_method: InboundValue
    priority: InboundValue | None = None
    subject: InboundValue
    description: InboundValue
    name: InboundValue
    email: InboundValue
    phone: InboundValue | None = None
    site_address: InboundValue | None = None


class InboundUpdate(Strict):
    """The changes a later message with the same external id makes to its ticket."""

    status: InboundValue | None = None
    priority: InboundValue | None = None
    note: InboundValue | None = Field(default=None, description="Added as an internal note.")


class InboundSource(Strict):
    """Another system that creates and updates tickets through POST /api/v1/inbound/{key}."""

    key: Key
    secret: str | None = Field(
        default=None,
        description="Standard Webhooks secret (whsec_ and base64) the sender signs with; "
        "empty (an unset ${VAR:-}) disables the source.",
    )
    id_field: str = Field(pattern=BODY_PATH_PATTERN, max_length=200)
    description: str | None = None
    create: InboundCreate
    update: InboundUpdate | None = None

    @field_validator("secret", mode="before")
    @classmethod
    def _empty_is_absent(cls, value: Any) -> Any:
        return None if value == "" else value


class MailTemplate(Strict):
    """The templates of one kind of mail to requesters; an absent part keeps the built-in."""

    subject: str | None = Field(default=None, min_length=1, max_length=1000)
    body: str | None = Field(default=None, min_length=1, max_length=20_000)
    enabled: bool = Field(default=True, description="false sends no mail of this kind.")


class MailSection(Strict):
    templates: dict[str, MailTemplate] = Field(
        default_factory=dict, description="Mail kind (acknowledgement, resolved, …) to templates."
    )


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
    rules: list[Rule] = Field(default_factory=list, description="Automation rules, run in order.")
    inbound: list[InboundSource] = Field(
        default_factory=list, description="Systems that create and update tickets by webhook."
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Web origins allowed to embed the request widget and call the intake API.",
    )
    mail: MailSection = Field(
        default_factory=MailSection, description="Templates of the mail sent to requesters."
    )
