"""Scenario parsing: valid files load from YAML, a path or a mapping; invalid ones are rejected.

Each rejection names the key path and the value in its message.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sla_case_checks import run_and_check

from opsdesk.errors import InvalidInput
from opsdesk.sla.preview import preview
from opsdesk.sla.rules import Metric, Rules
from opsdesk.sla.scenario import (
    AddOperation,
    BetweenOperation,
    CalendarScenario,
    ClockScenario,
    CreatedEvent,
    PriorityEvent,
    ReplyEvent,
    ScenarioError,
    StatusEvent,
    load_scenario,
    parse_scenario,
    parse_scenario_yaml,
)
from opsdesk.sla.ticket_sla import Author

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
OFFICE_UTC = {
    "timezone": "UTC",
    "hours": {**{day: [["09:00", "17:00"]] for day in WEEKDAYS}, "sat": [], "sun": []},
}

# 2026-03-02 is a Monday. Resolution runs 10:00-11:00 and 12:00-14:00; the urgent target
# of two hours set at 13:00 was reached at 13:00.
CLOCK: dict[str, Any] = {
    "id": "clock-sample",
    "kind": "clock",
    "note": "A sample.",
    "source": "Written for the tests.",
    "calendar": OFFICE_UTC,
    "policy": {
        "targets": {"first_response": "PT1H", "resolution": "PT8H"},
        "priorities": {"urgent": {"resolution": "PT2H"}},
        "pause_on": ["waiting"],
        "pause_first_response": False,
        "stop_on": {"resolution": ["resolved"]},
        "next_response_from_creation": False,
    },
    "events": [
        {"at": "2026-03-02T10:00:00Z", "type": "created", "status": "new", "priority": "normal"},
        {"at": "2026-03-02T11:00:00Z", "type": "status", "status": "waiting"},
        {"at": "2026-03-02T12:00:00Z", "type": "status", "status": "open"},
        {"at": "2026-03-02T12:30:00Z", "type": "reply", "by": "agent", "public": True},
        {"at": "2026-03-02T13:00:00Z", "type": "priority", "priority": "urgent"},
    ],
    "expect": [
        {
            "at": "2026-03-02T14:00:00Z",
            "resolution": {
                "due": "2026-03-02T13:00:00Z",
                "breached": True,
                "business_seconds_elapsed": 10800,
                "paused_business_seconds": 3600,
            },
            "first_response": {"due": "2026-03-02T11:00:00Z", "breached": True},
        }
    ],
}

CALENDAR: dict[str, Any] = {
    "id": "calendar-sample",
    "kind": "calendar",
    "calendar": OFFICE_UTC,
    "operations": [
        {
            "op": "add",
            "start": "2026-03-02T16:00:00Z",
            "duration": "PT2H",
            "expect": "2026-03-03T10:00:00Z",
        },
        {
            "op": "between",
            "start": "2026-03-02T16:00:00Z",
            "end": "2026-03-03T10:00:00+00:00",
            "expect": 7200,
        },
    ],
}

DELETE = object()


def changed(base: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """Return a deep copy of `base` with the value at `path` replaced, or removed for DELETE."""
    data = copy.deepcopy(base)
    parent: Any = data
    for part in path[:-1]:
        parent = parent[part]
    if value is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return data


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


# Valid scenarios


def test_clock_scenario_parses() -> None:
    scenario = parse_scenario(copy.deepcopy(CLOCK))

    assert isinstance(scenario, ClockScenario)
    assert scenario.kind == "clock"
    assert scenario.id == "clock-sample"
    assert scenario.note == "A sample."
    assert scenario.rules == Rules(
        targets={Metric.FIRST_RESPONSE: timedelta(hours=1), Metric.RESOLUTION: timedelta(hours=8)},
        priorities={"urgent": {Metric.RESOLUTION: timedelta(hours=2)}},
        pause_on=frozenset({"waiting"}),
        stop_on={Metric.RESOLUTION: frozenset({"resolved"})},
    )
    assert scenario.events == (
        CreatedEvent(at=utc(2, 10), status="new", priority="normal"),
        StatusEvent(at=utc(2, 11), status="waiting"),
        StatusEvent(at=utc(2, 12), status="open"),
        ReplyEvent(at=utc(2, 12, 30), by=Author.AGENT, public=True),
        PriorityEvent(at=utc(2, 13), priority="urgent"),
    )
    assert scenario.checkpoints[0].at == utc(2, 14)
    assert scenario.checkpoints[0].expected[Metric.RESOLUTION]["due"] == utc(2, 13)
    run_and_check(copy.deepcopy(CLOCK))


def test_created_defaults_and_checkpoint_default_instant() -> None:
    data = changed(CLOCK, ("events", 0), {"at": "2026-03-02T10:00:00Z", "type": "created"})
    data = changed(data, ("expect", 0), {"resolution": {"breached": True}})

    scenario = parse_scenario(data)

    assert isinstance(scenario, ClockScenario)
    assert scenario.events[0] == CreatedEvent(at=utc(2, 10), status="new", priority=None)
    assert scenario.checkpoints[0].at == utc(2, 13)  # the last event's instant


def test_empty_policy_is_valid() -> None:
    scenario = parse_scenario(changed(CLOCK, ("policy",), {}))

    assert isinstance(scenario, ClockScenario)
    assert scenario.rules == Rules()


def test_calendar_scenario_parses() -> None:
    scenario = parse_scenario(copy.deepcopy(CALENDAR))

    assert isinstance(scenario, CalendarScenario)
    assert scenario.operations == (
        AddOperation(start=utc(2, 16), duration=timedelta(hours=2), expect=utc(3, 10)),
        BetweenOperation(start=utc(2, 16), end=utc(3, 10), expect=7200),
    )
    run_and_check(copy.deepcopy(CALENDAR))


def test_negative_and_zero_add_durations_are_valid() -> None:
    data = changed(CALENDAR, ("operations", 0, "duration"), "-PT1H")
    data = changed(data, ("operations", 0, "expect"), "2026-03-02T15:00:00Z")
    data = changed(data, ("operations", 1), dict(data["operations"][0], duration="PT0S"))
    data["operations"][1]["expect"] = "2026-03-02T16:00:00Z"

    run_and_check(data)


def test_yaml_file_and_mapping_give_same_preview(tmp_path: Path) -> None:
    path = tmp_path / "clock-sample.yaml"
    path.write_text(yaml.safe_dump(CLOCK, sort_keys=False), encoding="utf-8")

    from_file = preview(load_scenario(path))
    from_json = preview(parse_scenario(json.loads(json.dumps(CLOCK))))

    assert from_file == from_json


def test_yaml_merge_keys_are_not_duplicates() -> None:
    text = """
id: merged
kind: clock
calendar: {timezone: UTC, hours: {mon: [["09:00", "17:00"]]}}
policy:
  priorities:
    high: &high {first_response: "PT1H", resolution: "PT4H"}
    urgent:
      <<: *high
      resolution: "PT2H"
events:
  - {at: "2026-03-02T10:00:00Z", type: created, priority: urgent}
expect:
  - resolution: {due: "2026-03-02T12:00:00Z"}
    first_response: {due: "2026-03-02T11:00:00Z"}
"""
    scenario = parse_scenario_yaml(text)

    assert isinstance(scenario, ClockScenario)
    assert scenario.rules.priorities["urgent"][Metric.RESOLUTION] == timedelta(hours=2)


def test_scenario_error_is_invalid_input() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(changed(CLOCK, ("kind",), "clocks"))

    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, InvalidInput)
    assert caught.value.status_code == 422
    assert caught.value.path == "kind"


def test_long_value_is_cut_in_message() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(changed(CLOCK, ("events", 1, "type"), "x" * 5000))

    assert str(caught.value).startswith('events[1].type: unknown event type "' + "x" * 80 + '…"')
    assert len(str(caught.value)) < 200


def test_calendar_error_path_is_nested() -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(changed(CLOCK, ("calendar", "hours", "tue"), [["9:00", "17:00"]]))

    assert caught.value.path == "calendar.hours.tue[0][0]"
    assert str(caught.value) == 'calendar.hours.tue[0][0]: invalid time "9:00", expected "HH:MM"'


# Rejected mappings: (key path to change, new value or DELETE, expected message start)

CLOCK_REJECTIONS = [
    pytest.param(
        ("extra",), 1, "extra: unknown key; expected id, kind, calendar", id="unknown-top-key"
    ),
    pytest.param(("id",), DELETE, "id: missing required key", id="missing-id"),
    pytest.param(("kind",), DELETE, "kind: missing required key", id="missing-kind"),
    pytest.param(("calendar",), DELETE, "calendar: missing required key", id="missing-calendar"),
    pytest.param(("policy",), DELETE, "policy: missing required key", id="missing-policy"),
    pytest.param(("events",), DELETE, "events: missing required key", id="missing-events"),
    pytest.param(("expect",), DELETE, "expect: missing required key", id="missing-expect"),
    pytest.param(("id",), "Clock_1", 'id: invalid id "Clock_1"', id="bad-id"),
    pytest.param(("id",), "", 'id: invalid id ""', id="empty-id"),
    pytest.param(
        ("kind",),
        "clocks",
        'kind: unknown kind "clocks"; expected calendar or clock',
        id="bad-kind",
    ),
    pytest.param(("operations",), [], "operations: unknown key", id="operations-in-clock"),
    pytest.param(("note",), 5, "note: expected text, got 5", id="note-number"),
    pytest.param(
        ("calendar",), [], "calendar: value must be a mapping, got a list", id="calendar-list"
    ),
    pytest.param(
        ("calendar", "timezone"),
        "Mars/Base",
        'calendar.timezone: unknown time zone "Mars/Base"',
        id="calendar-zone",
    ),
    pytest.param(
        ("calendar", "hours", "mon", 0),
        ["18:00", "08:00"],
        "calendar.hours.mon[0]: start",
        id="calendar-range",
    ),
    pytest.param(("calendar", "workdays"), [], "calendar.workdays: unknown key", id="calendar-key"),
    pytest.param(
        ("calendar", "hours"),
        DELETE,
        "calendar.hours: missing required key",
        id="calendar-no-hours",
    ),
    pytest.param(("policy",), None, "policy: value must be a mapping, got null", id="policy-null"),
    pytest.param(("policy", "pause_onn"), [], "policy.pause_onn: unknown key", id="policy-key"),
    pytest.param(
        ("policy", "resume_on_reopen"),
        True,
        "policy.resume_on_reopen: unknown key",
        id="policy-product-only",
    ),
    pytest.param(
        ("policy", "targets", "response"),
        "PT1H",
        "policy.targets.response: unknown key",
        id="targets-metric",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "P1D",
        'policy.targets.resolution: invalid duration "P1D"',
        id="target-days",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "P1DT2H",
        'policy.targets.resolution: invalid duration "P1DT2H"',
        id="target-day-part",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "PT0S",
        'policy.targets.resolution: target "PT0S" must be a positive',
        id="target-zero",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "-PT1H",
        'policy.targets.resolution: target "-PT1H" must be a positive',
        id="target-negative",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "PT1.5S",
        'policy.targets.resolution: invalid duration "PT1.5S"',
        id="target-fraction",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "4h",
        'policy.targets.resolution: invalid duration "4h"',
        id="target-compact",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "pt4h",
        'policy.targets.resolution: invalid duration "pt4h"',
        id="target-lower-case",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "PT",
        'policy.targets.resolution: invalid duration "PT"',
        id="target-empty",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "PT30M1H",
        'policy.targets.resolution: invalid duration "PT30M1H"',
        id="target-order",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        3600,
        "policy.targets.resolution: expected a quoted duration string, got 3600",
        id="target-number",
    ),
    pytest.param(
        ("policy", "priorities", "urgent"),
        "PT1H",
        'policy.priorities.urgent: value must be a mapping, got "PT1H"',
        id="priority-entry",
    ),
    pytest.param(
        ("policy", "priorities", "On Hold"),
        {"resolutio": "PT1H"},
        'policy.priorities["On Hold"].resolutio: unknown key',
        id="priority-spaced-name",
    ),
    pytest.param(
        ("policy", "priorities", "urgent", "first_response"),
        "PT1D",
        'policy.priorities.urgent.first_response: invalid duration "PT1D"',
        id="priority-target",
    ),
    pytest.param(
        ("policy", "pause_on"),
        "waiting",
        'policy.pause_on: expected a list of statuses, got "waiting"',
        id="pause-on-string",
    ),
    pytest.param(
        ("policy", "pause_on"),
        ["waiting", 5],
        "policy.pause_on[1]: expected a non-empty status string, got 5; quote it",
        id="pause-on-number",
    ),
    pytest.param(
        ("policy", "pause_on"),
        ["waiting", "waiting"],
        'policy.pause_on[1]: duplicate status "waiting"',
        id="pause-on-duplicate",
    ),
    pytest.param(
        ("policy", "pause_first_response"),
        "yes",
        'policy.pause_first_response: expected true or false, got "yes"',
        id="pause-first-string",
    ),
    pytest.param(
        ("policy", "stop_on", "next_response"),
        ["closed"],
        "policy.stop_on.next_response: unknown key",
        id="stop-on-next",
    ),
    pytest.param(
        ("policy", "stop_on", "resolution"),
        "resolved",
        'policy.stop_on.resolution: expected a list of statuses, got "resolved"',
        id="stop-on-string",
    ),
    pytest.param(
        ("policy", "next_response_from_creation"),
        1,
        "policy.next_response_from_creation: expected true or false, got 1",
        id="from-creation-number",
    ),
    pytest.param(("events",), [], "events: expected a non-empty list", id="events-empty"),
    pytest.param(("events",), {}, "events: expected a list, got a mapping", id="events-mapping"),
    pytest.param(
        ("events", 1),
        "status",
        'events[1]: value must be a mapping, got "status"',
        id="event-string",
    ),
    pytest.param(
        ("events", 1, "type"), DELETE, "events[1].type: missing required key", id="event-no-type"
    ),
    pytest.param(
        ("events", 1, "type"),
        "statsu",
        'events[1].type: unknown event type "statsu"; expected created, status, reply or priority',
        id="event-type-typo",
    ),
    pytest.param(
        ("events", 1, "type"),
        ["status"],
        "events[1].type: expected an event type string",
        id="event-type-list",
    ),
    pytest.param(
        ("events", 1, "at"), DELETE, "events[1].at: missing required key", id="event-no-at"
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02T11:00:00",
        'events[1].at: invalid instant "2026-03-02T11:00:00"',
        id="at-no-offset",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02T11:00:00.5Z",
        'events[1].at: invalid instant "2026-03-02T11:00:00.5Z"',
        id="at-fraction",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02T11:00Z",
        'events[1].at: invalid instant "2026-03-02T11:00Z"',
        id="at-no-seconds",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02 11:00:00Z",
        'events[1].at: invalid instant "2026-03-02 11:00:00Z"',
        id="at-space",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02T11:00:00+0100",
        'events[1].at: invalid instant "2026-03-02T11:00:00+0100"',
        id="at-short-offset",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02t11:00:00z",
        'events[1].at: invalid instant "2026-03-02t11:00:00z"',
        id="at-lower-case-z",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-02-30T11:00:00Z",
        'events[1].at: invalid instant "2026-02-30T11:00:00Z"',
        id="at-impossible-day",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02T25:00:00Z",
        'events[1].at: invalid instant "2026-03-02T25:00:00Z"',
        id="at-hour-25",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02T11:00:00+24:00",
        'events[1].at: invalid instant "2026-03-02T11:00:00+24:00": the offset must lie between',
        id="at-offset-24h",
    ),
    pytest.param(
        ("events", 1, "at"),
        "2026-03-02T11:00:00-05:60",
        'events[1].at: invalid instant "2026-03-02T11:00:00-05:60": the offset must lie between',
        id="at-offset-60m",
    ),
    pytest.param(
        ("policy", "targets", "resolution"),
        "PT99999999999999999999H",
        'policy.targets.resolution: invalid duration "PT99999999999999999999H": longer than',
        id="target-too-long",
    ),
    pytest.param(
        ("events", 1, "at"),
        1772449200,
        "events[1].at: expected a quoted instant string, got 1772449200",
        id="at-number",
    ),
    pytest.param(
        ("events", 2, "at"),
        "2026-03-02T10:30:00Z",
        'events[2].at: "2026-03-02T10:30:00Z" is earlier than events[1].at "2026-03-02T11:00:00Z"',
        id="at-unordered",
    ),
    pytest.param(
        ("events", 2, "at"),
        "2026-03-02T11:30:00+01:00",
        'events[2].at: "2026-03-02T11:30:00+01:00" is earlier than events[1].at',
        id="at-unordered-offset",
    ),
    pytest.param(
        ("events", 0),
        {"at": "2026-03-02T10:00:00Z", "type": "status", "status": "new"},
        "events[0].type: the first event must be of type created",
        id="first-not-created",
    ),
    pytest.param(
        ("events", 1),
        {"at": "2026-03-02T11:00:00Z", "type": "created"},
        "events[1].type: created may appear only once, as the first event",
        id="second-created",
    ),
    pytest.param(
        ("events", 0, "owner"),
        "ann",
        "events[0].owner: unknown key; expected at, type, status or priority",
        id="created-extra-key",
    ),
    pytest.param(
        ("events", 0, "status"),
        "",
        'events[0].status: expected a non-empty status string, got ""',
        id="created-status-empty",
    ),
    pytest.param(
        ("events", 1, "status"),
        DELETE,
        "events[1].status: missing required key",
        id="status-missing",
    ),
    pytest.param(
        ("events", 1, "status"),
        3,
        "events[1].status: expected a non-empty status string, got 3; quote it",
        id="status-number",
    ),
    pytest.param(
        ("events", 1, "by"),
        "agent",
        "events[1].by: unknown key; expected at, type or status",
        id="status-extra-key",
    ),
    pytest.param(
        ("events", 3, "by"),
        "bot",
        'events[3].by: unknown author "bot"; expected agent or customer',
        id="reply-by",
    ),
    pytest.param(
        ("events", 3, "by"), DELETE, "events[3].by: missing required key", id="reply-by-missing"
    ),
    pytest.param(
        ("events", 3, "public"),
        "true",
        'events[3].public: expected true or false, got "true"',
        id="reply-public-string",
    ),
    pytest.param(
        ("events", 3, "public"),
        DELETE,
        "events[3].public: missing required key",
        id="reply-public-missing",
    ),
    pytest.param(
        ("events", 3, "status"), "open", "events[3].status: unknown key", id="reply-status-key"
    ),
    pytest.param(
        ("events", 4, "priority"),
        1,
        "events[4].priority: expected a non-empty priority string, got 1; quote it",
        id="priority-number",
    ),
    pytest.param(
        ("events", 4, "priority"),
        DELETE,
        "events[4].priority: missing required key",
        id="priority-missing",
    ),
    pytest.param(("expect",), [], "expect: expected a non-empty list", id="expect-empty"),
    pytest.param(
        ("expect", 0),
        {"at": "2026-03-02T14:00:00Z"},
        "expect[0]: a checkpoint needs at least one of first_response, next_response, resolution",
        id="expect-no-metric",
    ),
    pytest.param(
        ("expect", 0, "resolution"),
        {},
        "expect[0].resolution: needs at least one of business_seconds_elapsed",
        id="expect-empty-metric",
    ),
    pytest.param(
        ("expect", 0, "resolved"),
        {"breached": True},
        "expect[0].resolved: unknown key",
        id="expect-metric-typo",
    ),
    pytest.param(
        ("expect", 0, "resolution", "elapsed"),
        1,
        "expect[0].resolution.elapsed: unknown key",
        id="expect-value-typo",
    ),
    pytest.param(
        ("expect", 0, "resolution", "business_seconds_elapsed"),
        -1,
        "expect[0].resolution.business_seconds_elapsed: "
        "expected a whole number of seconds (0 or more), got -1",
        id="expect-negative",
    ),
    pytest.param(
        ("expect", 0, "resolution", "paused_business_seconds"),
        True,
        "expect[0].resolution.paused_business_seconds: "
        "expected a whole number of seconds (0 or more), got true",
        id="expect-bool-seconds",
    ),
    pytest.param(
        ("expect", 0, "resolution", "business_seconds_elapsed"),
        1.5,
        "expect[0].resolution.business_seconds_elapsed: "
        "expected a whole number of seconds (0 or more), got 1.5",
        id="expect-float-seconds",
    ),
    pytest.param(
        ("expect", 0, "resolution", "due"),
        "tomorrow",
        'expect[0].resolution.due: invalid instant "tomorrow"',
        id="expect-due",
    ),
    pytest.param(
        ("expect", 0, "resolution", "breached"),
        "no",
        'expect[0].resolution.breached: expected true or false, got "no"',
        id="expect-breached",
    ),
    pytest.param(
        ("expect", 0, "at"),
        "2026-03-02T09:59:59Z",
        'expect[0].at: "2026-03-02T09:59:59Z" is before the created event',
        id="expect-at-before-created",
    ),
    pytest.param(
        ("expect", 0, "at"),
        "2026-03-02",
        'expect[0].at: invalid instant "2026-03-02"',
        id="expect-at-bad",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), CLOCK_REJECTIONS)
def test_clock_scenario_rejected(path: tuple[str | int, ...], value: object, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(changed(CLOCK, path, value))

    assert str(caught.value).startswith(message), str(caught.value)


CALENDAR_REJECTIONS = [
    pytest.param(
        ("operations",), DELETE, "operations: missing required key", id="missing-operations"
    ),
    pytest.param(
        ("operations",), [], "operations: expected a non-empty list", id="empty-operations"
    ),
    pytest.param(
        ("events",),
        [],
        "events: unknown key; expected id, kind, calendar, note, source or operations",
        id="events-in-calendar",
    ),
    pytest.param(
        ("operations", 0, "op"),
        "sub",
        'operations[0].op: unknown operation "sub"; expected add or between',
        id="unknown-op",
    ),
    pytest.param(
        ("operations", 0, "op"), DELETE, "operations[0].op: missing required key", id="missing-op"
    ),
    pytest.param(
        ("operations", 0, "duration"),
        DELETE,
        "operations[0].duration: missing required key",
        id="add-no-duration",
    ),
    pytest.param(
        ("operations", 0, "duration"),
        "P1D",
        'operations[0].duration: invalid duration "P1D"',
        id="add-day-duration",
    ),
    pytest.param(
        ("operations", 0, "end"),
        "2026-03-03T10:00:00Z",
        "operations[0].end: unknown key; expected op, start, duration or expect",
        id="add-end-key",
    ),
    pytest.param(
        ("operations", 0, "expect"),
        5,
        "operations[0].expect: expected a quoted instant string, got 5",
        id="add-expect-number",
    ),
    pytest.param(
        ("operations", 0, "expect"),
        DELETE,
        "operations[0].expect: missing required key",
        id="add-no-expect",
    ),
    pytest.param(
        ("operations", 1, "expect"),
        "7200",
        'operations[1].expect: expected a whole number of seconds (0 or more), got "7200"',
        id="between-expect-text",
    ),
    pytest.param(
        ("operations", 1, "duration"),
        "PT1H",
        "operations[1].duration: unknown key",
        id="between-duration-key",
    ),
    pytest.param(
        ("operations", 1, "end"),
        "2026-03-03T10:00:00",
        'operations[1].end: invalid instant "2026-03-03T10:00:00"',
        id="between-bad-end",
    ),
]


@pytest.mark.parametrize(("path", "value", "message"), CALENDAR_REJECTIONS)
def test_calendar_scenario_rejected(
    path: tuple[str | int, ...], value: object, message: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(changed(CALENDAR, path, value))

    assert str(caught.value).startswith(message), str(caught.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([CLOCK], "the scenario must be a mapping, got a list"),
        (None, "the scenario must be a mapping, got null"),
        (dict[object, object]({1: "x"}, **CLOCK), "key 1 is not a string; quote it"),
    ],
    ids=["list", "null", "number-key"],
)
def test_top_level_rejected(data: object, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


# Rejected YAML text


def _clock_yaml(**replacements: str) -> str:
    text = """\
id: yaml-sample
kind: clock
calendar:
  timezone: UTC
  hours:
    mon: [["09:00", "17:00"]]
policy:
  pause_on: [PAUSE]
events:
  - {at: AT, type: created}
expect:
  - resolution: {due: null}
"""
    replacements = {"PAUSE": "waiting", "AT": '"2026-03-02T10:00:00Z"', **replacements}
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    return text


def test_yaml_sample_is_valid() -> None:
    assert isinstance(parse_scenario_yaml(_clock_yaml()), ClockScenario)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _clock_yaml() + "id: again\n",
            'invalid YAML: line 13, column 1: found duplicate key "id" (first at line 1)',
        ),
        (
            _clock_yaml(AT='"2026-03-02T10:00:00Z", at: "2026-03-02T11:00:00Z"'),
            'found duplicate key "at"',
        ),
        (_clock_yaml(AT="2026-03-02T10:00:00Z"), "events[0].at: expected a quoted instant string"),
        (
            _clock_yaml(PAUSE="no"),
            "policy.pause_on[0]: expected a non-empty status string, got false",
        ),
        (
            _clock_yaml().replace('"17:00"', "17:00"),
            'calendar.hours.mon[0][1]: expected a quoted "HH:MM" string, got the number 1020',
        ),
        (_clock_yaml() + "---\nid: second\n", "invalid YAML: line 13"),
        ("id: [unclosed\n", "invalid YAML: line 2"),
        ("", "the scenario must be a mapping, got null"),
    ],
    ids=[
        "duplicate-top-key",
        "duplicate-event-key",
        "unquoted-instant",
        "unquoted-no",
        "unquoted-time",
        "two-documents",
        "syntax",
        "empty",
    ],
)
def test_yaml_rejected(text: str, message: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario_yaml(text)

    assert message in str(caught.value)


def test_load_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ScenarioError, match="cannot read the file: No such file or directory"):
        load_scenario(path)


def test_load_file_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(_clock_yaml(PAUSE="en_attente_\xe9t\xe9").encode("latin-1"))

    with pytest.raises(ScenarioError, match="invalid UTF-8 at byte"):
        load_scenario(path)


def test_load_reports_yaml_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("id: a\nid: b\n", encoding="utf-8")

    with pytest.raises(
        ScenarioError, match=r'^invalid YAML: line 2, column 1: found duplicate key "id"'
    ):
        load_scenario(path)
