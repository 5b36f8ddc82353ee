"""The shape of an automation rule, shared by the workspace file and the rules API."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Field, Tag, model_validator

from opsdesk.schema_types import Duration, Key, Named, Strict, TicketStatus

ConditionField = Literal[
    "status",
    "priority",
    "service_type",
    "pipeline",
    "contact_method",
    "channel",
    "team",
    "tags",
    "subject",
    "description",
    "assignee",
    "requester_email",
    "business_hours",
    "task.stage",
    "task.pipeline",
    "task.priority",
    "task.team",
    "task.assignee",
    "task.template",
]
CONDITION_FIELDS: tuple[str, ...] = get_args(ConditionField)
TASK_FIELD_PREFIX = "task."
"""Fields of the task an event is about; they have no value for other events."""
OPERATORS = ("equals", "in", "not_in", "contains", "exists")


class FieldCondition(Strict):
    """One test of a ticket or task field with exactly one operator.

    `contains` finds a word in text fields and an element in `tags`; `exists` tests that
    a field has a value (an assignee, a tag). `business_hours` is true when the event
    happened inside the ticket's working hours. The `task.` fields are those of the task
    an event is about, and have no value for an event about the ticket alone.
    """

    field: ConditionField
    equals: str | bool | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    not_in: list[str] | None = None
    contains: str | None = None
    exists: bool | None = None

    @model_validator(mode="after")
    def _one_operator(self) -> FieldCondition:
        given = [
            name
            for name in ("equals", "in_", "not_in", "contains", "exists")
            if getattr(self, name) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"a condition needs exactly one of {', '.join(OPERATORS)}; "
                f"got {len(given)} for field {self.field!r}"
            )
        return self

    @property
    def operator(self) -> str:
        for name, attribute in (
            ("equals", "equals"),
            ("in", "in_"),
            ("not_in", "not_in"),
            ("contains", "contains"),
            ("exists", "exists"),
        ):
            if getattr(self, attribute) is not None:
                return name
        raise AssertionError("validated to have one operator")


class ConditionGroup(Strict):
    """All of `all` and at least one of `any` must hold (either may be left out)."""

    all: list[Condition] | None = None
    any: list[Condition] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> ConditionGroup:
        if not self.all and not self.any:
            raise ValueError("a condition group needs a non-empty all or any list")
        return self


def _condition_kind(value: Any) -> str:
    """Tell a field test from a group by its keys, so errors name only the intended form.

    The tag of a field test is not "field": Pydantic puts the tag into an error's location,
    and a tag equal to a key of the condition would make that key appear twice in the path.
    """
    if isinstance(value, dict):
        return "field_test" if "field" in value else "group"
    return "field_test" if isinstance(value, FieldCondition) else "group"


Condition = Annotated[
    Annotated[FieldCondition, Tag("field_test")] | Annotated[ConditionGroup, Tag("group")],
    Discriminator(_condition_kind),
]


class SetField(Strict):
    action: Literal["set_field"]
    field: Literal["status", "priority", "team"]
    value: str = Field(min_length=1, max_length=64)


class AssignToTeam(Strict):
    """Give the ticket to a person of `team`, skipping people who are away."""

    action: Literal["assign"]
    team: Key
    strategy: Literal["round_robin", "least_loaded"] = "round_robin"


class AddTag(Strict):
    action: Literal["add_tag"]
    tag: str = Field(min_length=1, max_length=50, pattern=r"^[a-z0-9][a-z0-9_\-]*$")


class CreateTask(Strict):
    action: Literal["create_task"]
    template: Key = Field(description="A task template key of any service type.")


class RuleNote(Strict):
    action: Literal["add_note"]
    text: str = Field(min_length=1, max_length=2000)


class RuleNotify(Strict):
    action: Literal["notify"]
    role: Literal["agent", "technician", "supervisor", "admin"] | None = None
    team: Key | None = None
    user: str | None = None
    message: str | None = Field(default=None, max_length=2000)


class CallWebhook(Strict):
    action: Literal["call_webhook"]
    subscription: Key = Field(description="Key of a subscription in the workspace file.")


class EmailCustomer(Strict):
    action: Literal["email_customer"]
    text: str = Field(min_length=1, max_length=5000)


RuleAction = Annotated[
    SetField
    | AssignToTeam
    | AddTag
    | CreateTask
    | RuleNote
    | RuleNotify
    | CallWebhook
    | EmailCustomer,
    Field(discriminator="action"),
]


class TimeTrigger(Strict):
    """Fire once a ticket has stayed in `status` for `duration`."""

    status: TicketStatus
    duration: Duration
    clock: Literal["business", "wall"] = Field(
        default="business",
        description="business: working time on the ticket's SLA calendar; wall: elapsed time.",
    )


class Rule(Named):
    on: list[str] | None = Field(default=None, min_length=1, description="Event types.")
    after: TimeTrigger | None = None
    when: Condition | None = None
    actions: list[RuleAction] = Field(min_length=1)
    stop: bool = Field(default=False, description="Run no later rule for the same event.")
    enabled: bool = True

    @model_validator(mode="after")
    def _one_trigger(self) -> Rule:
        if (self.on is None) == (self.after is None):
            raise ValueError("a rule needs exactly one trigger: on (event types) or after (a wait)")
        return self


def condition_dump(condition: Any) -> Any:
    return condition.model_dump(by_alias=True, exclude_none=True) if condition is not None else None
