"""preview(): the exact output shape, checkpoint order and calendar failures."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from opsdesk.sla.preview import apply_event, measurement_values, preview
from opsdesk.sla.scenario import ClockScenario, ScenarioError, StatusEvent, parse_scenario
from opsdesk.sla.ticket_sla import ChangeKind, TicketSla

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
OFFICE_UTC = {"timezone": "UTC", "hours": {day: [["09:00", "17:00"]] for day in WEEKDAYS}}
VALUE_KEYS = {"due", "breached", "business_seconds_elapsed", "paused_business_seconds"}


def clock_data(expect: list[dict[str, Any]]) -> dict[str, Any]:
    # 2026-03-02 is a Monday. Resolution runs from 09:00 UTC and pauses 11:00-12:00.
    return {
        "id": "preview-sample",
        "kind": "clock",
        "calendar": OFFICE_UTC,
        "policy": {"targets": {"resolution": "PT4H"}, "pause_on": ["waiting"]},
        "events": [
            {"at": "2026-03-02T10:00:00+01:00", "type": "created"},
            {"at": "2026-03-02T11:00:00Z", "type": "status", "status": "waiting"},
            {"at": "2026-03-02T12:00:00Z", "type": "status", "status": "open"},
        ],
        "expect": expect,
    }


def test_clock_output_shape() -> None:
    output = preview(parse_scenario(clock_data([{"resolution": {"breached": False}}])))

    assert set(output) == {"id", "checkpoints"}
    assert output["id"] == "preview-sample"
    [checkpoint] = output["checkpoints"]
    assert set(checkpoint) == {"at", "first_response", "next_response", "resolution"}
    assert checkpoint["at"] == "2026-03-02T12:00:00Z"
    for metric in ("first_response", "next_response", "resolution"):
        assert set(checkpoint[metric]) == VALUE_KEYS
    assert checkpoint["resolution"] == {
        "due": "2026-03-02T14:00:00Z",
        "breached": False,
        "business_seconds_elapsed": 7200,
        "paused_business_seconds": 3600,
    }
    # No targets for first_response and no cycle for next_response.
    assert checkpoint["first_response"]["due"] is None
    assert checkpoint["next_response"] == {
        "due": None,
        "breached": False,
        "business_seconds_elapsed": 0,
        "paused_business_seconds": 0,
    }
    assert json.loads(json.dumps(output)) == output


def test_seconds_are_integers() -> None:
    output = preview(parse_scenario(clock_data([{"resolution": {"breached": False}}])))

    values = output["checkpoints"][0]["resolution"]
    assert type(values["business_seconds_elapsed"]) is int
    assert type(values["paused_business_seconds"]) is int
    assert type(values["breached"]) is bool


def test_checkpoints_keep_file_order() -> None:
    expect = [
        {"at": "2026-03-02T13:00:00Z", "resolution": {"breached": False}},
        {"at": "2026-03-02T09:30:00Z", "resolution": {"breached": False}},
        {"at": "2026-03-02T11:30:00Z", "resolution": {"breached": False}},
    ]

    output = preview(parse_scenario(clock_data(expect)))

    ats = [checkpoint["at"] for checkpoint in output["checkpoints"]]
    assert ats == ["2026-03-02T13:00:00Z", "2026-03-02T09:30:00Z", "2026-03-02T11:30:00Z"]
    elapsed = [c["resolution"]["business_seconds_elapsed"] for c in output["checkpoints"]]
    paused = [c["resolution"]["paused_business_seconds"] for c in output["checkpoints"]]
    assert elapsed == [3 * 3600, 1800, 2 * 3600]
    assert paused == [3600, 0, 1800]


def test_calendar_output_shape() -> None:
    data = {
        "id": "calendar-sample",
        "kind": "calendar",
        "calendar": OFFICE_UTC,
        "operations": [
            {
                "op": "add",
                "start": "2026-03-02T17:30:00+01:00",
                "duration": "PT1H",
                # 16:30-17:00 UTC, then 30 minutes from Tuesday's opening.
                "expect": "2026-03-03T09:30:00Z",
            },
            {
                "op": "between",
                "start": "2026-03-02T16:00:00Z",
                "end": "2026-03-03T10:00:00Z",
                "expect": 7200,
            },
            {
                "op": "between",
                "start": "2026-03-03T10:00:00Z",
                "end": "2026-03-02T16:00:00Z",
                "expect": 0,
            },
        ],
    }

    output = preview(parse_scenario(data))

    assert output == {"id": "calendar-sample", "results": ["2026-03-03T09:30:00Z", 7200, 0]}


def test_calendar_failure_names_operation() -> None:
    data = {
        "id": "calendar-too-far",
        "kind": "calendar",
        "calendar": OFFICE_UTC,
        "operations": [
            {
                "op": "add",
                "start": "2026-03-02T09:00:00Z",
                "duration": "PT200000H",
                "expect": "2026-03-03T10:00:00Z",
            }
        ],
    }

    with pytest.raises(ScenarioError, match=r"^operations\[0\]: no instant is"):
        preview(parse_scenario(data))


def test_calendar_failure_names_checkpoint() -> None:
    data = clock_data([{"at": "2199-01-01T00:00:00Z", "resolution": {"breached": False}}])

    with pytest.raises(ScenarioError, match=r"^expect\[0\]: .*too far apart"):
        preview(parse_scenario(data))


def test_apply_event_returns_changes() -> None:
    scenario = parse_scenario(clock_data([{"resolution": {"breached": False}}]))
    assert isinstance(scenario, ClockScenario)
    ticket = TicketSla(scenario.rules)
    apply_event(ticket, scenario.events[0])

    changes = apply_event(
        ticket, StatusEvent(at=datetime(2026, 3, 2, 11, tzinfo=UTC), status="waiting")
    )

    assert [change.kind for change in changes] == [ChangeKind.PAUSED]


def test_measurement_values_without_cycle() -> None:
    assert measurement_values(None) == {
        "due": None,
        "breached": False,
        "business_seconds_elapsed": 0,
        "paused_business_seconds": 0,
    }
