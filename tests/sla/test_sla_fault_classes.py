"""Scenarios for each class of SLA clock fault, run through the parser and the preview.

Every expected value here was worked out by hand from the calendar and the events; the
comments show the arithmetic. 2026-03-02 is a Monday.
"""

from __future__ import annotations

from typing import Any

import pytest
from sla_case_checks import run_and_check

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
ALL_DAYS = (*WEEKDAYS, "sat", "sun")

OFFICE_UTC = {
    "timezone": "UTC",
    "hours": {**{day: [["09:00", "17:00"]] for day in WEEKDAYS}, "sat": [], "sun": []},
}
# Good Friday and Easter Monday 2026 are holidays.
OFFICE_BERLIN = {
    "timezone": "Europe/Berlin",
    "hours": {**{day: [["09:00", "17:00"]] for day in WEEKDAYS}, "sat": [], "sun": []},
    "holidays": ["2026-04-03", "2026-04-06"],
}
ROUND_THE_CLOCK_BERLIN = {
    "timezone": "Europe/Berlin",
    "hours": {day: [["00:00", "24:00"]] for day in ALL_DAYS},
}
LUNCH_NEW_YORK = {
    "timezone": "America/New_York",
    "hours": {day: [["09:00", "13:00"], ["14:00", "18:00"]] for day in WEEKDAYS},
}


def clock(
    calendar: dict[str, Any],
    policy: dict[str, Any],
    events: list[dict[str, Any]],
    expect: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        "id": "fault-class",
        "kind": "clock",
        "calendar": calendar,
        "policy": policy,
        "events": events,
        "expect": expect,
    }


def created(at: str, **extra: str) -> dict[str, Any]:
    return {"at": at, "type": "created", **extra}


def status(at: str, name: str) -> dict[str, Any]:
    return {"at": at, "type": "status", "status": name}


def reply(at: str, by: str, public: bool = True) -> dict[str, Any]:
    return {"at": at, "type": "reply", "by": by, "public": public}


def priority(at: str, name: str) -> dict[str, Any]:
    return {"at": at, "type": "priority", "priority": name}


# Created outside working hours


@pytest.mark.parametrize(
    ("created_at", "first_response_due"),
    [
        # Saturday night before the spring clock change; Monday is on summer time.
        ("2026-03-28T22:00:00+01:00", "2026-03-30T11:00:00+02:00"),
        # Good Friday, then a weekend and Easter Monday.
        ("2026-04-03T10:00:00+02:00", "2026-04-07T11:00:00+02:00"),
        # After closing, at closing, and at opening.
        ("2026-03-02T18:00:00+01:00", "2026-03-03T11:00:00+01:00"),
        ("2026-03-02T17:00:00+01:00", "2026-03-03T11:00:00+01:00"),
        ("2026-03-02T09:00:00+01:00", "2026-03-02T11:00:00+01:00"),
    ],
    ids=[
        "saturday-before-dst",
        "holiday-weekend-holiday",
        "after-closing",
        "at-closing",
        "at-opening",
    ],
)
def test_created_outside_hours(created_at: str, first_response_due: str) -> None:
    scenario = clock(
        OFFICE_BERLIN,
        {"targets": {"first_response": "PT2H"}},
        [created(created_at)],
        [
            {
                "first_response": {
                    "due": first_response_due,
                    "breached": False,
                    "business_seconds_elapsed": 0,
                    "paused_business_seconds": 0,
                }
            }
        ],
    )
    run_and_check(scenario)


def test_long_target_from_saturday_crosses_dst() -> None:
    # Ten working hours: Monday 09:00-17:00 on summer time, then Tuesday 09:00-11:00.
    scenario = clock(
        OFFICE_BERLIN,
        {"targets": {"resolution": "PT10H"}},
        [created("2026-03-28T22:00:00+01:00")],
        [{"resolution": {"due": "2026-03-31T09:00:00Z"}}],
    )
    run_and_check(scenario)


def test_target_spanning_dst_weekend() -> None:
    # Friday 16:00-17:00 on winter time, then an hour from Monday 09:00 on summer time.
    scenario = clock(
        OFFICE_BERLIN,
        {"targets": {"first_response": "PT2H"}},
        [created("2026-03-27T16:00:00+01:00")],
        [{"first_response": {"due": "2026-03-30T08:00:00Z"}}],
    )
    run_and_check(scenario)


# Pauses across holidays, weekends and breaks


def test_pause_spanning_holidays_and_weekend() -> None:
    # Runs Thursday 10:00-16:00 (6 h). The pause from Thursday 16:00 to Tuesday 10:00
    # contains Thursday 16:00-17:00 and Tuesday 09:00-10:00 of working time, because
    # Friday and Monday are holidays.
    scenario = clock(
        OFFICE_BERLIN,
        {"targets": {"resolution": "PT8H"}, "pause_on": ["waiting"]},
        [
            created("2026-04-02T10:00:00+02:00"),
            status("2026-04-02T16:00:00+02:00", "waiting"),
            status("2026-04-07T10:00:00+02:00", "open"),
        ],
        [
            {
                "at": "2026-04-04T12:00:00+02:00",
                "resolution": {
                    "business_seconds_elapsed": 21600,
                    "paused_business_seconds": 3600,
                    # Two hours left, projected from Saturday: Tuesday 09:00-11:00.
                    "due": "2026-04-07T11:00:00+02:00",
                    "breached": False,
                },
            },
            {
                "resolution": {
                    "business_seconds_elapsed": 21600,
                    "paused_business_seconds": 7200,
                    "due": "2026-04-07T12:00:00+02:00",
                    "breached": False,
                }
            },
        ],
    )
    run_and_check(scenario)


def test_pause_over_lunch_break_counts_no_break_time() -> None:
    # The pause 12:45-14:15 contains 12:45-13:00 and 14:00-14:15 of working time.
    scenario = clock(
        LUNCH_NEW_YORK,
        {"targets": {"resolution": "PT2H"}, "pause_on": ["hold"]},
        [
            created("2025-06-23T12:30:00-04:00"),
            status("2025-06-23T12:45:00-04:00", "hold"),
            status("2025-06-23T14:15:00-04:00", "open"),
        ],
        [
            {
                "resolution": {
                    "business_seconds_elapsed": 900,
                    "paused_business_seconds": 1800,
                    "due": "2025-06-23T16:00:00-04:00",
                }
            }
        ],
    )
    run_and_check(scenario)


@pytest.mark.parametrize(
    ("resumed_at", "due", "paused_seconds"),
    [
        # A pause of zero length leaves the due at closing.
        ("2026-03-02T14:00:00Z", "2026-03-02T17:00:00Z", 0),
        # One second more carries it to one second after the next opening.
        ("2026-03-02T14:00:01Z", "2026-03-03T09:00:01Z", 1),
        ("2026-03-02T15:00:00Z", "2026-03-03T10:00:00Z", 3600),
    ],
    ids=["zero", "one-second", "one-hour"],
)
def test_exact_pause_length_moves_due(resumed_at: str, due: str, paused_seconds: int) -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT4H"}, "pause_on": ["hold"]},
        [
            created("2026-03-02T13:00:00Z"),
            status("2026-03-02T14:00:00Z", "hold"),
            status(resumed_at, "open"),
        ],
        [
            {
                "resolution": {
                    "due": due,
                    "paused_business_seconds": paused_seconds,
                    "business_seconds_elapsed": 3600,
                }
            }
        ],
    )
    run_and_check(scenario)


def test_pause_before_opening_counts_from_opening() -> None:
    # The pause from 07:00 to 10:00 contains one working hour, 09:00-10:00.
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT8H"}, "pause_on": ["hold"]},
        [
            created("2026-03-02T16:00:00Z"),
            status("2026-03-03T07:00:00Z", "hold"),
            status("2026-03-03T10:00:00Z", "open"),
        ],
        [{"resolution": {"paused_business_seconds": 3600, "business_seconds_elapsed": 3600}}],
    )
    run_and_check(scenario)


def test_pause_starting_at_creation() -> None:
    # Created in a pause status: nothing runs until the status changes.
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"first_response": "PT1H", "resolution": "PT4H"},
            "pause_on": ["pending"],
            "pause_first_response": True,
        },
        [created("2026-03-02T10:00:00Z", status="pending"), status("2026-03-02T12:00:00Z", "open")],
        [
            {
                "at": "2026-03-02T12:30:00Z",
                "first_response": {
                    "business_seconds_elapsed": 1800,
                    "paused_business_seconds": 7200,
                    "due": "2026-03-02T13:00:00Z",
                },
                "resolution": {"due": "2026-03-02T16:00:00Z"},
            }
        ],
    )
    run_and_check(scenario)


# Events at one instant


def _replies_at_noon(first: str, second: str) -> dict[str, Any]:
    return clock(
        OFFICE_UTC,
        {"targets": {"next_response": "PT1H"}},
        [
            created("2026-03-02T10:00:00Z"),
            reply("2026-03-02T10:10:00Z", "agent"),
            reply("2026-03-02T12:00:00Z", first),
            reply("2026-03-02T12:00:00Z", second),
        ],
        [
            {
                "at": "2026-03-02T14:00:00Z",
                "next_response": _noon_cycle_values(first),
            }
        ],
    )


def _noon_cycle_values(first: str) -> dict[str, Any]:
    if first == "customer":
        # The cycle opens and closes at noon, so the reply is in time.
        return {
            "due": "2026-03-02T13:00:00Z",
            "breached": False,
            "business_seconds_elapsed": 0,
        }
    # The agent reply closes nothing; the customer reply then opens a cycle still open.
    return {"due": "2026-03-02T13:00:00Z", "breached": True, "business_seconds_elapsed": 7200}


@pytest.mark.parametrize("first", ["customer", "agent"])
def test_same_instant_replies_apply_in_order(first: str) -> None:
    second = "agent" if first == "customer" else "customer"
    run_and_check(_replies_at_noon(first, second))


def test_same_instant_pause_then_answer() -> None:
    # The pause comes first, but the agent reply still stops first_response at 10:03.
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"first_response": "PT5M"},
            "pause_on": ["pending"],
            "pause_first_response": True,
        },
        [
            created("2026-03-02T10:00:00Z"),
            status("2026-03-02T10:03:00Z", "pending"),
            reply("2026-03-02T10:03:00Z", "agent"),
        ],
        [
            {
                "at": "2026-03-02T11:00:00Z",
                "first_response": {
                    "due": "2026-03-02T10:05:00Z",
                    "breached": False,
                    "business_seconds_elapsed": 180,
                    "paused_business_seconds": 0,
                },
                "resolution": {"paused_business_seconds": 3420},
            }
        ],
    )
    run_and_check(scenario)


def test_stop_then_leave_at_same_instant_stays_stopped() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT4H"}, "stop_on": {"resolution": ["resolved"]}},
        [
            created("2026-03-02T10:00:00Z"),
            status("2026-03-02T12:00:00Z", "resolved"),
            status("2026-03-02T12:00:00Z", "open"),
        ],
        [
            {
                "at": "2026-03-02T15:00:00Z",
                "resolution": {
                    "business_seconds_elapsed": 7200,
                    "due": "2026-03-02T14:00:00Z",
                    "breached": False,
                },
            }
        ],
    )
    run_and_check(scenario)


def test_checkpoint_at_event_instant_sees_event() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"first_response": "PT1H"}},
        [created("2026-03-02T10:00:00Z"), reply("2026-03-02T10:30:00Z", "agent")],
        [
            {"at": "2026-03-02T10:29:59Z", "first_response": {"business_seconds_elapsed": 1799}},
            {
                "at": "2026-03-02T10:30:00Z",
                "first_response": {"business_seconds_elapsed": 1800, "due": "2026-03-02T11:00:00Z"},
            },
        ],
    )
    output = run_and_check(scenario)
    assert output["checkpoints"][0]["first_response"]["due"] == "2026-03-02T11:00:00Z"


# Priority changes


def test_priority_change_to_exceeded_target_breaches() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT8H"}, "priorities": {"urgent": {"resolution": "PT1H"}}},
        [
            created("2026-03-02T09:00:00Z", priority="normal"),
            priority("2026-03-02T11:00:00Z", "urgent"),
        ],
        [
            {
                "at": "2026-03-02T10:30:00Z",
                "resolution": {"due": "2026-03-02T17:00:00Z", "breached": False},
            },
            # Two hours consumed against one: the due is when the first hour ran out.
            {
                "resolution": {
                    "due": "2026-03-02T10:00:00Z",
                    "breached": True,
                    "business_seconds_elapsed": 7200,
                }
            },
        ],
    )
    run_and_check(scenario)


def test_priority_change_to_looser_target() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT8H"}, "priorities": {"urgent": {"resolution": "PT1H"}}},
        [
            created("2026-03-02T09:00:00Z", priority="urgent"),
            priority("2026-03-02T09:30:00Z", "normal"),
        ],
        [{"resolution": {"due": "2026-03-02T17:00:00Z", "business_seconds_elapsed": 1800}}],
    )
    run_and_check(scenario)


def test_priority_change_after_stop_keeps_old_target() -> None:
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"first_response": "PT2H", "resolution": "PT8H"},
            "priorities": {"urgent": {"first_response": "PT30M", "resolution": "PT1H"}},
            "stop_on": {"resolution": ["resolved"]},
        },
        [
            created("2026-03-02T09:00:00Z"),
            status("2026-03-02T10:00:00Z", "resolved"),
            priority("2026-03-02T11:00:00Z", "urgent"),
        ],
        [
            {
                # One of eight hours used when resolved at 10:00; seven more end at 17:00.
                "resolution": {
                    "due": "2026-03-02T17:00:00Z",
                    "breached": False,
                    "business_seconds_elapsed": 3600,
                },
                # Still running, so it takes the urgent 30 minutes, reached at 09:30.
                "first_response": {"due": "2026-03-02T09:30:00Z", "breached": True},
            }
        ],
    )
    run_and_check(scenario)


# Target reached, then paused or stopped


def test_target_reached_then_paused_keeps_due() -> None:
    # Monday 16:00-17:00 and Tuesday 09:00-10:00 use the two hours; paused at 11:00.
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT2H"}, "pause_on": ["hold"]},
        [created("2026-03-02T16:00:00Z"), status("2026-03-03T11:00:00Z", "hold")],
        [
            {
                "at": "2026-03-03T09:30:00Z",
                "resolution": {
                    "due": "2026-03-03T10:00:00Z",
                    "breached": False,
                    "business_seconds_elapsed": 5400,
                },
            },
            {
                "at": "2026-03-04T12:00:00Z",
                "resolution": {
                    "due": "2026-03-03T10:00:00Z",
                    "breached": True,
                    "business_seconds_elapsed": 10800,
                    "paused_business_seconds": 32400,
                },
            },
        ],
    )
    run_and_check(scenario)


@pytest.mark.parametrize(
    ("answered_at", "breached"),
    [("2026-03-02T11:00:00Z", False), ("2026-03-02T11:00:01Z", True)],
    ids=["at-due", "one-second-late"],
)
def test_answer_at_due_is_in_time(answered_at: str, breached: bool) -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"first_response": "PT1H"}},
        [created("2026-03-02T10:00:00Z"), reply(answered_at, "agent")],
        [
            {
                "at": "2026-03-02T15:00:00Z",
                "first_response": {"due": "2026-03-02T11:00:00Z", "breached": breached},
            }
        ],
    )
    run_and_check(scenario)


def test_answered_after_closing_is_breached() -> None:
    # The target is used up exactly at closing (17:00), and the reply at 18:00 is later.
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"first_response": "PT1H"}},
        [created("2026-03-02T16:00:00Z"), reply("2026-03-02T18:00:00Z", "agent")],
        [
            {
                "first_response": {
                    "due": "2026-03-02T17:00:00Z",
                    "breached": True,
                    "business_seconds_elapsed": 3600,
                }
            }
        ],
    )
    run_and_check(scenario)


def test_first_response_runs_on_after_resolution_stops() -> None:
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"first_response": "PT1H", "resolution": "PT4H"},
            "stop_on": {"resolution": ["closed"]},
        },
        [
            created("2026-03-02T10:00:00Z"),
            status("2026-03-02T11:00:00Z", "closed"),
            reply("2026-03-02T14:00:00Z", "agent"),
        ],
        [
            {
                "first_response": {
                    "due": "2026-03-02T11:00:00Z",
                    "breached": True,
                    "business_seconds_elapsed": 14400,
                },
                "resolution": {
                    "due": "2026-03-02T14:00:00Z",
                    "breached": False,
                    "business_seconds_elapsed": 3600,
                },
            }
        ],
    )
    run_and_check(scenario)


def test_elapsed_counts_seconds() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"first_response": "PT1H"}},
        [created("2026-03-01T23:49:00Z"), reply("2026-03-02T09:00:03Z", "agent")],
        [{"first_response": {"breached": False, "business_seconds_elapsed": 3}}],
    )
    run_and_check(scenario)


# Next-response cycles


def test_cycles_from_creation() -> None:
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"first_response": "PT1H", "next_response": "PT2H"},
            "next_response_from_creation": True,
        },
        [
            created("2026-03-02T10:00:00Z"),
            reply("2026-03-02T10:30:00Z", "agent"),
            reply("2026-03-02T11:00:00Z", "customer"),
        ],
        [
            {
                "at": "2026-03-02T10:00:00Z",
                "next_response": {"due": "2026-03-02T12:00:00Z", "business_seconds_elapsed": 0},
            },
            # The first agent reply closed cycle 1; its values stay until cycle 2 opens.
            {
                "at": "2026-03-02T10:45:00Z",
                "next_response": {
                    "due": "2026-03-02T12:00:00Z",
                    "breached": False,
                    "business_seconds_elapsed": 1800,
                },
                "first_response": {"business_seconds_elapsed": 1800},
            },
            {
                "at": "2026-03-02T13:30:00Z",
                "next_response": {
                    "due": "2026-03-02T13:00:00Z",
                    "breached": True,
                    "business_seconds_elapsed": 9000,
                },
            },
        ],
    )
    run_and_check(scenario)


def test_customer_reply_before_first_response_opens_no_cycle() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"next_response": "PT1H"}},
        [created("2026-03-02T10:00:00Z"), reply("2026-03-02T10:30:00Z", "customer")],
        [
            {
                "next_response": {
                    "due": None,
                    "breached": False,
                    "business_seconds_elapsed": 0,
                    "paused_business_seconds": 0,
                }
            }
        ],
    )
    run_and_check(scenario)


def test_first_response_by_status_enables_cycles() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"next_response": "PT1H"}, "stop_on": {"first_response": ["replied"]}},
        [
            created("2026-03-02T10:00:00Z"),
            status("2026-03-02T10:10:00Z", "replied"),
            reply("2026-03-02T11:00:00Z", "customer"),
        ],
        [{"next_response": {"due": "2026-03-02T12:00:00Z"}}],
    )
    run_and_check(scenario)


def test_cycle_opened_while_paused() -> None:
    # The customer reply opens the cycle while the status is waiting, so it starts paused;
    # a reply does not change the status.
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"next_response": "PT2H"}, "pause_on": ["waiting"]},
        [
            created("2026-03-02T10:00:00Z"),
            reply("2026-03-02T10:10:00Z", "agent"),
            status("2026-03-02T10:10:00Z", "waiting"),
            reply("2026-03-02T11:00:00Z", "customer"),
            status("2026-03-02T12:00:00Z", "open"),
        ],
        [
            {
                "at": "2026-03-02T12:30:00Z",
                "next_response": {
                    "business_seconds_elapsed": 1800,
                    "paused_business_seconds": 3600,
                    "due": "2026-03-02T14:00:00Z",
                },
            }
        ],
    )
    run_and_check(scenario)


def test_non_public_replies_change_nothing() -> None:
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"first_response": "PT1H", "next_response": "PT1H"},
        },
        [
            created("2026-03-02T10:00:00Z"),
            reply("2026-03-02T10:10:00Z", "agent", public=False),
            reply("2026-03-02T10:20:00Z", "customer", public=False),
        ],
        [
            {
                "at": "2026-03-02T11:30:00Z",
                "first_response": {
                    "due": "2026-03-02T11:00:00Z",
                    "breached": True,
                    "business_seconds_elapsed": 5400,
                },
                "next_response": {"due": None},
            }
        ],
    )
    run_and_check(scenario)


# Stop against pause, and stopped clocks


def test_stop_wins_over_pause() -> None:
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"first_response": "PT1H"},
            "pause_on": ["replied"],
            "pause_first_response": True,
            "stop_on": {"first_response": ["replied"]},
        },
        [created("2026-03-02T10:00:00Z"), status("2026-03-02T10:20:00Z", "replied")],
        [
            {
                "at": "2026-03-02T12:00:00Z",
                "first_response": {
                    "due": "2026-03-02T11:00:00Z",
                    "breached": False,
                    "business_seconds_elapsed": 1200,
                    "paused_business_seconds": 0,
                },
                "resolution": {"business_seconds_elapsed": 1200, "paused_business_seconds": 6000},
            }
        ],
    )
    run_and_check(scenario)


def test_created_in_stop_status() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT2H"}, "stop_on": {"resolution": ["resolved"]}},
        [created("2026-03-02T10:00:00Z", status="resolved")],
        [
            {
                "at": "2026-03-03T10:00:00Z",
                "resolution": {
                    "due": "2026-03-02T12:00:00Z",
                    "breached": False,
                    "business_seconds_elapsed": 0,
                    "paused_business_seconds": 0,
                },
            }
        ],
    )
    run_and_check(scenario)


def test_reopened_ticket_never_restarts_in_preview() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"resolution": "PT4H"}, "stop_on": {"resolution": ["resolved"]}},
        [
            created("2026-03-02T10:00:00Z"),
            status("2026-03-02T12:00:00Z", "resolved"),
            status("2026-03-02T13:00:00Z", "open"),
        ],
        [
            {
                "at": "2026-03-02T16:00:00Z",
                "resolution": {
                    "business_seconds_elapsed": 7200,
                    "due": "2026-03-02T14:00:00Z",
                    "breached": False,
                },
            }
        ],
    )
    run_and_check(scenario)


# Clock changes and offsets


@pytest.mark.parametrize(
    ("start", "end", "seconds"),
    [
        ("2026-03-28T12:00:00+01:00", "2026-03-29T12:00:00+02:00", 23 * 3600),
        ("2026-10-24T12:00:00+02:00", "2026-10-25T12:00:00+01:00", 25 * 3600),
    ],
    ids=["spring", "autumn"],
)
def test_round_the_clock_day_of_clock_change(start: str, end: str, seconds: int) -> None:
    scenario = clock(
        ROUND_THE_CLOCK_BERLIN,
        {},
        [created(start)],
        [{"at": end, "resolution": {"business_seconds_elapsed": seconds}}],
    )
    run_and_check(scenario)


def test_instants_compare_across_offsets() -> None:
    scenario = clock(
        OFFICE_UTC,
        {"targets": {"first_response": "PT30M"}},
        [created("2026-03-02T15:30:00+05:30")],
        [
            {"first_response": {"due": "2026-03-02T10:30:00Z"}},
            {"at": "2026-03-02T16:05:00+05:30", "first_response": {"breached": True}},
        ],
    )
    output = run_and_check(scenario)
    assert output["checkpoints"][1]["at"] == "2026-03-02T10:35:00Z"


def test_priority_change_retargets_open_cycle_only() -> None:
    # Cycle 1 opens at 11:00 with two hours; urgent at 11:10 makes it 30 minutes, reached
    # at 11:30. After it closes at 12:00, a change back to normal leaves it as it was.
    scenario = clock(
        OFFICE_UTC,
        {
            "targets": {"next_response": "PT2H"},
            "priorities": {"urgent": {"next_response": "PT30M"}},
        },
        [
            created("2026-03-02T10:00:00Z"),
            reply("2026-03-02T10:05:00Z", "agent"),
            reply("2026-03-02T11:00:00Z", "customer"),
            priority("2026-03-02T11:10:00Z", "urgent"),
            reply("2026-03-02T12:00:00Z", "agent"),
            priority("2026-03-02T12:30:00Z", "normal"),
        ],
        [
            {
                "at": "2026-03-02T11:05:00Z",
                "next_response": {"due": "2026-03-02T13:00:00Z", "breached": False},
            },
            {
                "at": "2026-03-02T11:10:00Z",
                "next_response": {"due": "2026-03-02T11:30:00Z", "breached": False},
            },
            {
                "next_response": {
                    "due": "2026-03-02T11:30:00Z",
                    "breached": True,
                    "business_seconds_elapsed": 3600,
                }
            },
        ],
    )
    run_and_check(scenario)
