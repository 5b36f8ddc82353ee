"""Subscription conditions: which events of the subscribed types are delivered.

A condition has the shape of an automation rule's `when` (field tests joined by `all`
and `any`) and is evaluated by the same engine. It tests the event's facts: the fields
of the ticket the event belongs to, overlaid by the top-level fields of the event's data,
which describe the moment of the event (an SLA event's `metric`, a task's `pipeline`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, get_args

from pydantic import Discriminator, Tag, TypeAdapter, ValidationError

from opsdesk.automation.engine import matches
from opsdesk.automation.schema import ConditionGroup, FieldCondition
from opsdesk.errors import InvalidInput
from opsdesk.schema_types import Metric, TicketStatus
from opsdesk.tickets.models import Ticket
from opsdesk.workspace import CHANNELS, Workspace

EventField = Literal[
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
    "requester_email",
    "assignee",
    "metric",
    "level",
    "stage",
    "template",
    "escalation",
    "rule",
    "from",
    "to",
    "public",
    "author",
    "policy",
    "calendar",
]


EVENT_FIELDS: tuple[str, ...] = get_args(EventField)


class EventFieldCondition(FieldCondition):
    """A field test of an automation rule, over the fields an event carries."""

    # The rule model lists ticket fields only; an event also has metric, stage and so on.
    field: EventField  # type: ignore[assignment]


def _condition_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "field" if "field" in value else "group"
    return "field" if isinstance(value, FieldCondition) else "group"


EventCondition = Annotated[
    Annotated[EventFieldCondition, Tag("field")] | Annotated["EventConditionGroup", Tag("group")],
    Discriminator(_condition_kind),
]


class EventConditionGroup(ConditionGroup):
    all: list[EventCondition] | None = None  # type: ignore[assignment]
    any: list[EventCondition] | None = None  # type: ignore[assignment]


_adapter: TypeAdapter[EventFieldCondition | EventConditionGroup] = TypeAdapter(EventCondition)

Path = tuple[str | int, ...]


def _condition_path(loc: Sequence[str | int]) -> Path:
    """Turn a Pydantic error location into the path of keys in the condition.

    Pydantic puts the union tag ("field" or "group") into the location at each condition
    node: the root and every element of an `all` or `any` list. Those tags are dropped.
    """
    path: list[str | int] = []
    at_node = True
    for part in loc:
        if at_node and part in ("field", "group"):
            at_node = False
            continue
        path.append(part)
        at_node = isinstance(part, int) and len(path) >= 2 and path[-2] in ("all", "any")
    return tuple(path)


def _dotted(path: Path) -> str:
    return ".".join(str(part) for part in ("conditions", *path))


def _describe(error: Any) -> str:
    if error["type"] == "missing":
        return "missing required key"
    if error["type"] == "extra_forbidden":
        return "unknown key; remove it or check its spelling"
    if error["type"] == "literal_error" and error["loc"][-1:] == ("field",):
        return f"unknown field {error.get('input')!r}; expected one of {', '.join(EVENT_FIELDS)}"
    if error["type"] in ("model_type", "model_attributes_type", "dict_type"):
        return 'must be an object such as {"field": "priority", "equals": "high"}'
    message = str(error["msg"]).removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def parse_conditions(raw: dict[str, Any]) -> EventFieldCondition | EventConditionGroup:
    """Validate a condition tree; raise InvalidInput naming each faulty path."""
    try:
        return _adapter.validate_python(raw)
    except ValidationError as exc:
        details = []
        for error in exc.errors():
            path = _dotted(_condition_path(error["loc"]))
            details.append({"field": path, "message": _describe(error)})
        names = ", ".join(dict.fromkeys(detail["field"] for detail in details))
        raise InvalidInput(f"invalid conditions at {names}", details=details) from exc


def check_condition_values(
    condition: EventFieldCondition | EventConditionGroup, workspace: Workspace
) -> None:
    """Raise InvalidInput when a condition compares a field with a value it never has."""
    spec = workspace.spec
    known: dict[str, set[str]] = {
        "status": {status.value for status in TicketStatus},
        "priority": {priority.key for priority in spec.priorities},
        "service_type": {service.key for service in spec.service_types},
        "pipeline": {pipeline.key for pipeline in spec.pipelines},
        "contact_method": {method.key for method in spec.contact_methods},
        "channel": set(CHANNELS),
        "team": {team.key for team in spec.teams},
        "metric": {metric.value for metric in Metric},
        "stage": {stage.key for pipeline in spec.pipelines for stage in pipeline.stages},
    }
    details: list[dict[str, str]] = []

    def expect(path: Path, value: str, values: set[str], field: str) -> None:
        if value not in values:
            details.append(
                {
                    "field": _dotted(path),
                    "message": f"unknown {field.replace('_', ' ')} {value!r}; expected one of "
                    + ", ".join(sorted(values)),
                }
            )

    def visit(path: Path, node: EventFieldCondition | EventConditionGroup) -> None:
        if isinstance(node, EventConditionGroup):
            for group in ("all", "any"):
                for index, part in enumerate(getattr(node, group) or []):
                    visit((*path, group, index), part)
            return
        values = known.get(node.field)
        if values is None:
            return
        if isinstance(node.equals, str):
            expect((*path, "equals"), node.equals, values, node.field)
        for operator, listed in (("in", node.in_), ("not_in", node.not_in)):
            for index, value in enumerate(listed or []):
                expect((*path, operator, index), value, values, node.field)

    visit((), condition)
    if details:
        names = ", ".join(detail["field"] for detail in details)
        raise InvalidInput(f"invalid conditions at {names}", details=details)


def dump_conditions(condition: EventFieldCondition | EventConditionGroup) -> dict[str, Any]:
    dumped: dict[str, Any] = condition.model_dump(by_alias=True, exclude_none=True)
    return dumped


def event_facts(event_type: str, data: Mapping[str, Any], ticket: Ticket | None) -> dict[str, Any]:
    """Return the values a subscription condition tests for one event.

    The ticket's fields are read when the event is fanned out, normally within a second
    of the change. The event's own data wins where both have a field, and the new value of
    a status or priority change is the event's `status` or `priority`.
    """
    facts: dict[str, Any] = {}
    if ticket is not None:
        facts |= {
            "status": ticket.status,
            "priority": ticket.priority,
            "service_type": ticket.service_type,
            "pipeline": ticket.pipeline,
            "contact_method": ticket.contact_method,
            "channel": ticket.channel,
            "team": ticket.team,
            "tags": list(ticket.tags),
            "subject": ticket.subject,
            "description": ticket.description,
            "requester_email": ticket.requester_email,
        }
    for name, value in data.items():
        if value is None or isinstance(value, str | int | float | bool | list):
            facts[name] = value
    if event_type == "ticket.status_changed":
        facts["status"] = data.get("to")
    elif event_type == "ticket.priority_changed":
        facts["priority"] = data.get("to")
    return facts


def conditions_match(raw: dict[str, Any] | None, facts: Mapping[str, Any]) -> bool:
    """Evaluate stored conditions; no conditions match every event."""
    if not raw:
        return True
    return matches(parse_conditions(raw), facts)
