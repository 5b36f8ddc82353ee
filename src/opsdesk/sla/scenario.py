"""Parsing and strict validation of SLA scenario files.

A scenario is one YAML document (or the same data as a parsed JSON body) that either
lists calendar operations (`kind: calendar`) or describes one ticket's policy, events and
expected checkpoint values (`kind: clock`). Unknown, duplicate and missing keys, values of
the wrong type, malformed instants and durations, events out of time order and
checkpoints before creation all raise `ScenarioError`, whose message starts with the key
path of the bad value, such as `events[2].type`.

Entry points: `load_scenario(path)` for a file, `parse_scenario_yaml(text)` for YAML
text, and `parse_scenario(data)` for an already parsed mapping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeAlias

import yaml

from opsdesk.calendars import BusinessCalendar, CalendarError
from opsdesk.calendars.durations import DurationError, parse_duration
from opsdesk.errors import InvalidInput
from opsdesk.sla.rules import STOPPABLE_METRICS, Metric, Rules
from opsdesk.sla.ticket_sla import DEFAULT_STATUS, Author

_ID_PATTERN = re.compile(r"[a-z0-9-]+")
# Whole seconds and an explicit offset. The pattern uses [0-9] because \d also matches
# digits of other scripts.
_INSTANT_PATTERN = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:Z|[+-][0-9]{2}:[0-9]{2})"
)
# Hours, minutes and seconds in that order, at least one of them, no fractions.
_DURATION_PATTERN = re.compile(r"-?PT(?=[0-9])(?:[0-9]+H)?(?:[0-9]+M)?(?:[0-9]+S)?")
_PLAIN_KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")

_SHOWN_TEXT_LIMIT = 80
_INSTANT_HINT = 'expected "YYYY-MM-DDTHH:MM:SS" with Z or ±HH:MM, such as "2026-01-28T09:00:00Z"'
_DURATION_HINT = 'expected "PT" with hours, minutes and/or seconds, such as "PT1H30M"'

CHECKPOINT_VALUE_KEYS = (
    "business_seconds_elapsed",
    "paused_business_seconds",
    "due",
    "breached",
)


class ScenarioError(InvalidInput, ValueError):
    """An invalid scenario. The message starts with the key path of the bad value.

    It is an `InvalidInput`, so the web layer returns HTTP 422, and a ValueError for
    callers that catch only the standard exceptions. `path` is the key path, or None for
    errors about the file as a whole.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


class EventType(StrEnum):
    CREATED = "created"
    STATUS = "status"
    REPLY = "reply"
    PRIORITY = "priority"


@dataclass(frozen=True, slots=True)
class CreatedEvent:
    at: datetime
    status: str = DEFAULT_STATUS
    priority: str | None = None


@dataclass(frozen=True, slots=True)
class StatusEvent:
    at: datetime
    status: str


@dataclass(frozen=True, slots=True)
class ReplyEvent:
    at: datetime
    by: Author
    public: bool


@dataclass(frozen=True, slots=True)
class PriorityEvent:
    at: datetime
    priority: str


Event: TypeAlias = CreatedEvent | StatusEvent | ReplyEvent | PriorityEvent

# Keys each event type requires besides `at` and `type`; created also allows status
# and priority.
_EVENT_REQUIRED_KEYS: dict[EventType, tuple[str, ...]] = {
    EventType.CREATED: (),
    EventType.STATUS: ("status",),
    EventType.REPLY: ("by", "public"),
    EventType.PRIORITY: ("priority",),
}


@dataclass(frozen=True, slots=True)
class AddOperation:
    start: datetime
    duration: timedelta
    expect: datetime


@dataclass(frozen=True, slots=True)
class BetweenOperation:
    start: datetime
    end: datetime
    expect: int


Operation: TypeAlias = AddOperation | BetweenOperation


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """An instant to measure at, and the values the file names for it.

    `expected[metric]` contains only the keys the file names: integer seconds for the two
    counts, an aware datetime or None for `due`, a bool for `breached`.
    """

    at: datetime
    expected: Mapping[Metric, Mapping[str, Any]]


@dataclass(frozen=True)
class CalendarScenario:
    id: str
    calendar: BusinessCalendar
    operations: tuple[Operation, ...]
    note: str | None = None
    source: str | None = None
    kind: Literal["calendar"] = field(default="calendar", init=False)


@dataclass(frozen=True)
class ClockScenario:
    id: str
    calendar: BusinessCalendar
    rules: Rules
    events: tuple[Event, ...]
    checkpoints: tuple[Checkpoint, ...]
    note: str | None = None
    source: str | None = None
    kind: Literal["clock"] = field(default="clock", init=False)


Scenario: TypeAlias = CalendarScenario | ClockScenario


# Entry points


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate the scenario file at `path`, or raise ScenarioError.

    Like every ScenarioError message, these do not name the file, so the caller prefixes
    it (as in `FILE: events[2].type: ...`).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read the file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(
            f"invalid UTF-8 at byte {exc.start}: {exc.reason}; save the file as UTF-8"
        ) from exc
    return parse_scenario_yaml(text)


def parse_scenario_yaml(text: str) -> Scenario:
    """Parse one YAML document and validate it as a scenario, or raise ScenarioError."""
    try:
        data = yaml.load(text, Loader=StrictYamlLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        raise ScenarioError(f"invalid YAML: {_describe_yaml_error(exc)}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"invalid YAML: {exc}") from exc
    return parse_scenario(data)


def parse_scenario(data: object) -> Scenario:
    """Validate an already parsed scenario (a mapping) and return it, or raise ScenarioError.

    Values must have the types YAML or JSON give them: instants, durations, dates and
    times are strings, counts are integers and flags are booleans.
    """
    top = _mapping(data, "", subject="the scenario")
    kind = _required(top, "", "kind")
    if kind not in ("calendar", "clock"):
        raise ScenarioError(f"unknown kind {_show(kind)}; expected calendar or clock", path="kind")
    common = ("id", "kind", "calendar", "note", "source")
    if kind == "calendar":
        _check_keys(top, "", allowed=(*common, "operations"))
    else:
        _check_keys(top, "", allowed=(*common, "policy", "events", "expect"))

    scenario_id = _scenario_id(_required(top, "", "id"))
    note = _optional_text(top, "note")
    source = _optional_text(top, "source")
    calendar = parse_calendar_mapping(_required(top, "", "calendar"))

    if kind == "calendar":
        operations = _operations(_required(top, "", "operations"))
        return CalendarScenario(
            id=scenario_id, calendar=calendar, operations=operations, note=note, source=source
        )

    rules = parse_policy(_required(top, "", "policy"))
    events = _events(_required(top, "", "events"))
    checkpoints = _checkpoints(_required(top, "", "expect"), events)
    return ClockScenario(
        id=scenario_id,
        calendar=calendar,
        rules=rules,
        events=events,
        checkpoints=checkpoints,
        note=note,
        source=source,
    )


def parse_calendar_mapping(value: object, path: str = "calendar") -> BusinessCalendar:
    """Build a calendar, re-raising CalendarError as ScenarioError under `path`."""
    mapping = _mapping(value, path)
    try:
        return BusinessCalendar.from_mapping(mapping)
    except CalendarError as exc:
        if exc.path:
            # The calendar's message starts with its own key path; nest it under `path`.
            message = str(exc).removeprefix(f"{exc.path}: ")
            raise ScenarioError(message, path=f"{path}.{exc.path}") from exc
        raise ScenarioError(str(exc), path=path) from exc


def parse_policy(value: object, path: str = "policy") -> Rules:
    """Validate a scenario `policy` mapping into Rules (resume_on_reopen stays False)."""
    policy = _mapping(value, path)
    _check_keys(
        policy,
        path,
        allowed=(
            "targets",
            "priorities",
            "pause_on",
            "pause_first_response",
            "stop_on",
            "next_response_from_creation",
        ),
    )
    targets: dict[Metric, timedelta] = {}
    if "targets" in policy:
        targets = _targets(policy["targets"], _join(path, "targets"))

    priorities: dict[str, dict[Metric, timedelta]] = {}
    if "priorities" in policy:
        priorities_path = _join(path, "priorities")
        for name, entry in _mapping(policy["priorities"], priorities_path).items():
            name_path = _join(priorities_path, name)
            _name(name, name_path, label="priority name")
            priorities[name] = _targets(entry, name_path)

    pause_on: frozenset[str] = frozenset()
    if "pause_on" in policy:
        pause_on = _status_list(policy["pause_on"], _join(path, "pause_on"))

    stop_on: dict[Metric, frozenset[str]] = {}
    if "stop_on" in policy:
        stop_path = _join(path, "stop_on")
        stop_mapping = _mapping(policy["stop_on"], stop_path)
        for key, statuses in stop_mapping.items():
            if key not in {metric.value for metric in STOPPABLE_METRICS}:
                hint = ""
                if key == Metric.NEXT_RESPONSE:
                    hint = " (a next-response cycle ends only with a public agent reply)"
                raise ScenarioError(
                    f"unknown key{hint}; expected first_response or resolution",
                    path=_join(stop_path, key),
                )
            stop_on[Metric(key)] = _status_list(statuses, _join(stop_path, key))

    return Rules(
        targets=targets,
        priorities=priorities,
        pause_on=pause_on,
        pause_first_response=_optional_bool(policy, path, "pause_first_response"),
        stop_on=stop_on,
        next_response_from_creation=_optional_bool(policy, path, "next_response_from_creation"),
    )


# Kind calendar


def _operations(value: object) -> tuple[Operation, ...]:
    items = _non_empty_list(value, "operations")
    return tuple(_operation(item, f"operations[{index}]") for index, item in enumerate(items))


def _operation(value: object, path: str) -> Operation:
    entry = _mapping(value, path)
    op = _required(entry, path, "op")
    if op == "add":
        _check_keys(entry, path, allowed=("op", "start", "duration", "expect"))
        return AddOperation(
            start=_instant(_required(entry, path, "start"), _join(path, "start")),
            duration=_duration(_required(entry, path, "duration"), _join(path, "duration")),
            expect=_instant(_required(entry, path, "expect"), _join(path, "expect")),
        )
    if op == "between":
        _check_keys(entry, path, allowed=("op", "start", "end", "expect"))
        return BetweenOperation(
            start=_instant(_required(entry, path, "start"), _join(path, "start")),
            end=_instant(_required(entry, path, "end"), _join(path, "end")),
            expect=_seconds(_required(entry, path, "expect"), _join(path, "expect")),
        )
    raise ScenarioError(
        f"unknown operation {_show(op)}; expected add or between", path=_join(path, "op")
    )


# Kind clock: events


def _events(value: object) -> tuple[Event, ...]:
    items = _non_empty_list(value, "events")
    events: list[Event] = []
    for index, item in enumerate(items):
        path = f"events[{index}]"
        event = _event(item, path)
        if index == 0 and not isinstance(event, CreatedEvent):
            raise ScenarioError("the first event must be of type created", path=_join(path, "type"))
        if index > 0 and isinstance(event, CreatedEvent):
            raise ScenarioError(
                "created may appear only once, as the first event", path=_join(path, "type")
            )
        if events and event.at < events[-1].at:
            raise ScenarioError(
                f"{_show(item['at'])} is earlier than events[{index - 1}].at "
                f"{_show(items[index - 1]['at'])}; events must be in time order",
                path=_join(path, "at"),
            )
        events.append(event)
    return tuple(events)


def _event(value: object, path: str) -> Event:
    entry = _mapping(value, path)
    event_type = _required(entry, path, "type")
    if not isinstance(event_type, str):
        raise ScenarioError(
            f"expected an event type string (created, status, reply or priority), "
            f"got {_show(event_type)}",
            path=_join(path, "type"),
        )
    if event_type not in [member.value for member in EventType]:
        raise ScenarioError(
            f"unknown event type {_show(event_type)}; expected created, status, reply or priority",
            path=_join(path, "type"),
        )
    names = _EVENT_REQUIRED_KEYS[EventType(event_type)]
    optional = ("status", "priority") if event_type == EventType.CREATED else ()
    _check_keys(entry, path, allowed=("at", "type", *names, *optional))
    at = _instant(_required(entry, path, "at"), _join(path, "at"))
    for name in names:
        _required(entry, path, name)

    if event_type == EventType.CREATED:
        status = DEFAULT_STATUS
        if "status" in entry:
            status = _name(entry["status"], _join(path, "status"), label="status")
        priority = None
        if "priority" in entry:
            priority = _name(entry["priority"], _join(path, "priority"), label="priority")
        return CreatedEvent(at=at, status=status, priority=priority)
    if event_type == EventType.STATUS:
        return StatusEvent(at=at, status=_name(entry["status"], _join(path, "status"), "status"))
    if event_type == EventType.PRIORITY:
        priority = _name(entry["priority"], _join(path, "priority"), label="priority")
        return PriorityEvent(at=at, priority=priority)

    by = entry["by"]
    if by not in [member.value for member in Author]:
        raise ScenarioError(
            f"unknown author {_show(by)}; expected agent or customer", path=_join(path, "by")
        )
    public = _bool(entry["public"], _join(path, "public"))
    return ReplyEvent(at=at, by=Author(by), public=public)


# Kind clock: checkpoints


def _checkpoints(value: object, events: Sequence[Event]) -> tuple[Checkpoint, ...]:
    items = _non_empty_list(value, "expect")
    created_at = events[0].at
    last_at = events[-1].at
    checkpoints: list[Checkpoint] = []
    for index, item in enumerate(items):
        path = f"expect[{index}]"
        entry = _mapping(item, path)
        metric_names = [metric.value for metric in Metric]
        _check_keys(entry, path, allowed=("at", *metric_names))
        at = last_at
        if "at" in entry:
            at = _instant(entry["at"], _join(path, "at"))
            if at < created_at:
                raise ScenarioError(
                    f"{_show(entry['at'])} is before the created event at "
                    f"{_show(events[0].at.isoformat())}; a checkpoint cannot precede creation",
                    path=_join(path, "at"),
                )
        expected: dict[Metric, Mapping[str, Any]] = {}
        for metric in Metric:
            if metric.value in entry:
                metric_path = _join(path, metric.value)
                expected[metric] = _expected_values(entry[metric.value], metric_path)
        if not expected:
            raise ScenarioError(
                "a checkpoint needs at least one of first_response, next_response, resolution",
                path=path,
            )
        checkpoints.append(Checkpoint(at=at, expected=expected))
    return tuple(checkpoints)


def _expected_values(value: object, path: str) -> dict[str, Any]:
    entry = _mapping(value, path)
    _check_keys(entry, path, allowed=CHECKPOINT_VALUE_KEYS)
    if not entry:
        raise ScenarioError("needs at least one of " + ", ".join(CHECKPOINT_VALUE_KEYS), path=path)
    values: dict[str, Any] = {}
    for key in ("business_seconds_elapsed", "paused_business_seconds"):
        if key in entry:
            values[key] = _seconds(entry[key], _join(path, key))
    if "due" in entry:
        due = entry["due"]
        values["due"] = None if due is None else _instant(due, _join(path, "due"))
    if "breached" in entry:
        values["breached"] = _bool(entry["breached"], _join(path, "breached"))
    return values


# Values


def _scenario_id(value: object) -> str:
    if not isinstance(value, str) or not _ID_PATTERN.fullmatch(value):
        raise ScenarioError(
            f"invalid id {_show(value)}; expected lower-case letters a-z, digits and '-'",
            path="id",
        )
    return value


def _optional_text(entry: Mapping[str, Any], key: str) -> str | None:
    if key not in entry:
        return None
    value = entry[key]
    if not isinstance(value, str):
        raise ScenarioError(f"expected text, got {_show(value)}", path=key)
    return value


def _instant(value: object, path: str) -> datetime:
    if not isinstance(value, str):
        raise ScenarioError(f"expected a quoted instant string, got {_show(value)}", path=path)
    if not _INSTANT_PATTERN.fullmatch(value):
        raise ScenarioError(f"invalid instant {_show(value)}; {_INSTANT_HINT}", path=path)
    if not value.endswith("Z") and (int(value[-5:-3]) > 23 or int(value[-2:]) > 59):
        raise ScenarioError(
            f"invalid instant {_show(value)}: the offset must lie between -23:59 and +23:59",
            path=path,
        )
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        # The pattern passed, so a field is out of range, such as month 13 or hour 25.
        raise ScenarioError(f"invalid instant {_show(value)}: {exc}", path=path) from None


def _duration(value: object, path: str, *, positive: bool = False) -> timedelta:
    if not isinstance(value, str):
        raise ScenarioError(f"expected a quoted duration string, got {_show(value)}", path=path)
    if not _DURATION_PATTERN.fullmatch(value):
        raise ScenarioError(f"invalid duration {_show(value)}; {_DURATION_HINT}", path=path)
    try:
        duration = parse_duration(value)
    except DurationError as exc:
        # Its message already names the value, such as a duration too long for timedelta.
        raise ScenarioError(str(exc), path=path) from None
    if positive and duration <= timedelta(0):
        raise ScenarioError(f"target {_show(value)} must be a positive duration", path=path)
    return duration


def _targets(value: object, path: str) -> dict[Metric, timedelta]:
    entry = _mapping(value, path)
    _check_keys(entry, path, allowed=tuple(metric.value for metric in Metric))
    return {
        Metric(key): _duration(target, _join(path, key), positive=True)
        for key, target in entry.items()
    }


def _status_list(value: object, path: str) -> frozenset[str]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"expected a list of statuses, got {_show(value)}", path=path)
    seen: set[str] = set()
    for index, status in enumerate(value):
        item_path = f"{path}[{index}]"
        _name(status, item_path, label="status")
        if status in seen:
            raise ScenarioError(f"duplicate status {_show(status)}", path=item_path)
        seen.add(status)
    return frozenset(seen)


def _name(value: object, path: str, label: str) -> str:
    if not isinstance(value, str) or not value:
        hint = "; quote it" if isinstance(value, bool | int | float | date) else ""
        raise ScenarioError(
            f"expected a non-empty {label} string, got {_show(value)}{hint}", path=path
        )
    return value


def _seconds(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScenarioError(
            f"expected a whole number of seconds (0 or more), got {_show(value)}", path=path
        )
    return value


def _bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise ScenarioError(f"expected true or false, got {_show(value)}", path=path)
    return value


def _optional_bool(entry: Mapping[str, Any], path: str, key: str) -> bool:
    if key not in entry:
        return False
    return _bool(entry[key], _join(path, key))


# Structure


def _mapping(value: object, path: str, *, subject: str = "value") -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ScenarioError(f"{subject} must be a mapping, got {_show(value)}", path=path or None)
    for key in value:
        if not isinstance(key, str):
            raise ScenarioError(f"key {_show(key)} is not a string; quote it", path=path or None)
    return value


def _non_empty_list(value: object, path: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise ScenarioError(f"expected a list, got {_show(value)}", path=path)
    if not value:
        raise ScenarioError("expected a non-empty list", path=path)
    return value


def _check_keys(entry: Mapping[str, Any], path: str, allowed: Sequence[str]) -> None:
    for key in entry:
        if key not in allowed:
            raise ScenarioError("unknown key; expected " + _or_list(allowed), path=_join(path, key))


def _required(entry: Mapping[str, Any], path: str, key: str) -> Any:
    if key not in entry:
        raise ScenarioError("missing required key", path=_join(path, key))
    return entry[key]


def _join(path: str, key: str) -> str:
    """Extend a key path. A key that is not a plain name is written as ["..."]."""
    if _PLAIN_KEY_PATTERN.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _or_list(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]


def _show(value: object) -> str:
    """Render a value for a message: strings in double quotes, other scalars as YAML writes them.

    Strings longer than 80 characters are cut, so that a bad value pasted into a large
    request body does not fill the error message.
    """
    if isinstance(value, str):
        if len(value) > _SHOWN_TEXT_LIMIT:
            return json.dumps(value[:_SHOWN_TEXT_LIMIT], ensure_ascii=False)[:-1] + '…"'
        return json.dumps(value, ensure_ascii=False)
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return f"the unquoted {type(value).__name__} {value.isoformat()} (quote it)"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


# YAML


class StrictYamlLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a mapping with the same key twice.

    PyYAML keeps the last value of a repeated key without a word, which would hide a
    typo such as two `at` keys in one event.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # an unhashable key; the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {_show(key)} (first at line {first.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _describe_yaml_error(error: yaml.MarkedYAMLError) -> str:
    mark = error.problem_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    problem = error.problem or str(error)
    return where + problem
