"""TicketSla: events become clock transitions, timeline changes and storable state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from opsdesk.calendars import BusinessCalendar
from opsdesk.sla.engine import Phase
from opsdesk.sla.rules import Metric, Rules
from opsdesk.sla.ticket_sla import Change, TicketSla, Track

FR, NR, RES = Metric.FIRST_RESPONSE, Metric.NEXT_RESPONSE, Metric.RESOLUTION
HOUR = timedelta(hours=1)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

# 09:00-17:00 UTC on weekdays; 2026-03-02 is a Monday.
OFFICE = BusinessCalendar.from_mapping(
    {"timezone": "UTC", "hours": {day: [["09:00", "17:00"]] for day in WEEKDAYS}}
)


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """Return an instant in March 2026 in UTC."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def make_rules(**overrides: object) -> Rules:
    values: dict[str, object] = {
        "targets": {FR: HOUR, NR: 2 * HOUR, RES: 8 * HOUR},
        "priorities": {"urgent": {FR: timedelta(minutes=15), RES: 2 * HOUR}},
        "pause_on": {"waiting_on_customer"},
        "stop_on": {FR: {"replied"}, RES: {"resolved", "closed"}},
    }
    values.update(overrides)
    return Rules(**values)  # type: ignore[arg-type]


def summary(changes: list[Change]) -> list[tuple[str, int | None, str, str]]:
    return [(str(c.metric), c.cycle, str(c.kind), c.cause) for c in changes]


# Events and changes


def test_create_starts_both_clocks() -> None:
    sla = TicketSla(make_rules())

    changes = sla.create(utc(2, 10))

    assert summary(changes) == [
        ("first_response", None, "started", "ticket created with status new"),
        ("resolution", None, "started", "ticket created with status new"),
    ]
    assert [c.phase for c in changes] == [Phase.RUNNING, Phase.RUNNING]
    assert [c.target for c in changes] == [HOUR, 8 * HOUR]
    assert sla.next_response == []


def test_create_opens_cycle_when_configured() -> None:
    sla = TicketSla(make_rules(next_response_from_creation=True))

    changes = sla.create(utc(2, 10))

    assert summary(changes)[-1] == ("next_response", 1, "cycle_opened", changes[0].cause)
    assert sla.open_cycle is not None
    assert sla.open_cycle.target == 2 * HOUR


def test_create_in_pause_status_starts_paused() -> None:
    sla = TicketSla(make_rules())

    changes = sla.create(utc(2, 10), status="waiting_on_customer")

    phases = {c.metric: c.phase for c in changes}
    assert phases == {FR: Phase.RUNNING, RES: Phase.PAUSED}
    assert changes[1].describe() == (
        "resolution started paused: ticket created with status waiting_on_customer"
    )


def test_create_in_stop_status_stops_at_once() -> None:
    sla = TicketSla(make_rules())

    changes = sla.create(utc(2, 10), status="closed")

    assert summary(changes)[-1] == (
        "resolution",
        None,
        "stopped",
        "ticket created with status closed",
    )
    measured = sla.measure(OFFICE, utc(3, 10))[RES]
    assert measured is not None
    assert measured.elapsed == timedelta(0)
    assert measured.stopped_at == utc(2, 10)
    # Eight working hours from Monday 10:00: seven on Monday, one on Tuesday.
    assert measured.due == utc(3, 10)
    assert measured.breached is False


def test_status_change_pauses_and_resumes() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))

    paused = sla.set_status(utc(2, 11), "waiting_on_customer")
    same = sla.set_status(utc(2, 12), "waiting_on_customer")
    resumed = sla.set_status(utc(3, 10), "open")

    assert summary(paused) == [
        ("resolution", None, "paused", "status changed to waiting_on_customer")
    ]
    assert same == []
    assert summary(resumed) == [("resolution", None, "resumed", "status changed to open")]
    measured = sla.measure(OFFICE, utc(3, 10))[RES]
    assert measured is not None
    assert measured.paused == 7 * HOUR


def test_pause_first_response_option() -> None:
    sla = TicketSla(make_rules(pause_first_response=True))
    sla.create(utc(2, 10))

    changes = sla.set_status(utc(2, 11), "waiting_on_customer")

    assert [(str(c.metric), str(c.kind)) for c in changes] == [
        ("first_response", "paused"),
        ("resolution", "paused"),
    ]


def test_stop_wins_over_pause() -> None:
    rules = make_rules(pause_on={"replied"}, pause_first_response=True)
    sla = TicketSla(rules)
    sla.create(utc(2, 10))

    changes = sla.set_status(utc(2, 11), "replied")

    assert [(str(c.metric), str(c.kind)) for c in changes] == [
        ("first_response", "stopped"),
        ("resolution", "paused"),
    ]
    assert sla.first_responded is True


def test_agent_reply_stops_first_response() -> None:
    sla = TicketSla(make_rules(next_response_from_creation=True))
    sla.create(utc(2, 10))

    changes = sla.reply(utc(2, 10, 30), by="agent", public=True)

    assert summary(changes) == [
        ("first_response", None, "stopped", "public agent reply"),
        ("next_response", 1, "cycle_closed", "public agent reply"),
    ]
    assert sla.first_responded is True
    assert sla.open_cycle is None


def test_non_public_replies_change_nothing() -> None:
    sla = TicketSla(make_rules(next_response_from_creation=True))
    sla.create(utc(2, 10))
    before = sla.to_dict()

    agent_note = sla.reply(utc(2, 11), by="agent", public=False)
    customer_note = sla.reply(utc(2, 11), by="customer", public=False)

    assert agent_note == []
    assert customer_note == []
    after = sla.to_dict()
    assert after["first_response"] == before["first_response"]
    assert after["next_response"] == before["next_response"]


def test_customer_reply_before_first_response_opens_no_cycle() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))

    changes = sla.reply(utc(2, 11), by="customer", public=True)

    assert changes == []
    assert sla.measure(OFFICE, utc(2, 12))[NR] is None


def test_next_response_cycles_are_numbered() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))
    sla.reply(utc(2, 10, 15), by="agent", public=True)

    opened = sla.reply(utc(2, 11), by="customer", public=True)
    again = sla.reply(utc(2, 11, 30), by="customer", public=True)
    closed = sla.reply(utc(2, 12), by="agent", public=True)
    second = sla.reply(utc(2, 14), by="customer", public=True)

    assert summary(opened) == [("next_response", 1, "cycle_opened", "public customer reply")]
    assert again == []
    assert summary(closed) == [("next_response", 1, "cycle_closed", "public agent reply")]
    assert summary(second) == [("next_response", 2, "cycle_opened", "public customer reply")]
    assert [track.cycle for track in sla.next_response] == [1, 2]
    measured = sla.measure(OFFICE, utc(2, 15))[NR]
    assert measured is not None
    assert measured.elapsed == HOUR
    assert measured.due == utc(2, 16)


def test_first_response_by_status_allows_cycles() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))
    sla.set_status(utc(2, 10, 30), "replied")

    changes = sla.reply(utc(2, 11), by="customer", public=True)

    assert summary(changes) == [("next_response", 1, "cycle_opened", "public customer reply")]


def test_cycle_opened_in_pause_status_starts_paused() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))
    sla.reply(utc(2, 10, 15), by="agent", public=True)
    sla.set_status(utc(2, 10, 15), "waiting_on_customer")

    changes = sla.reply(utc(2, 11), by="customer", public=True)

    assert changes[0].phase is Phase.PAUSED


def test_priority_change_retargets_running_clocks_only() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))
    sla.reply(utc(2, 10, 5), by="agent", public=True)

    changes = sla.set_priority(utc(2, 11), "urgent")
    unchanged = sla.set_priority(utc(2, 11, 30), "urgent")

    # first_response already stopped, so only resolution takes the urgent target.
    assert summary(changes) == [("resolution", None, "retargeted", "priority changed to urgent")]
    assert changes[0].target == 2 * HOUR
    assert unchanged == []
    assert sla.first_response is not None
    assert sla.first_response.target == HOUR
    measured = sla.measure(OFFICE, utc(2, 13))[RES]
    assert measured is not None
    # Consumed time counts against the new target: reached at 12:00, an hour ago.
    assert measured.due == utc(2, 12)
    assert measured.breached is True


def test_unknown_priority_falls_back_to_targets() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10), priority="urgent")

    changes = sla.set_priority(utc(2, 11), "someday")

    assert [(str(c.metric), c.target) for c in changes] == [
        ("first_response", HOUR),
        ("resolution", 8 * HOUR),
    ]


def test_stopped_clock_ignores_later_pause() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))
    sla.set_status(utc(2, 11), "resolved")

    changes = sla.set_status(utc(2, 12), "waiting_on_customer")

    # first_response is not paused by pause_on here, and resolution has stopped.
    assert changes == []
    measured = sla.measure(OFFICE, utc(3, 12))[RES]
    assert measured is not None
    assert measured.phase is Phase.STOPPED
    assert measured.paused == timedelta(0)


# Reopening


def test_reopen_without_resume_keeps_resolution_stopped() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))
    sla.set_status(utc(2, 12), "resolved")

    changes = sla.set_status(utc(3, 10), "open")

    assert changes == []
    measured = sla.measure(OFFICE, utc(3, 12))[RES]
    assert measured is not None
    assert measured.stopped_at == utc(2, 12)
    assert measured.elapsed == 2 * HOUR


def test_reopen_with_resume_restarts_resolution() -> None:
    sla = TicketSla(make_rules(resume_on_reopen=True))
    sla.create(utc(2, 10))
    sla.reply(utc(2, 10, 30), by="agent", public=True)
    sla.set_status(utc(2, 12), "resolved")

    changes = sla.set_status(utc(3, 10), "open")

    assert summary(changes) == [("resolution", None, "resumed", "reopened")]
    measured = sla.measure(OFFICE, utc(3, 12))
    resolution = measured[RES]
    assert resolution is not None
    # Two hours before resolving and two after reopening; the stopped night counts neither way.
    assert resolution.elapsed == 4 * HOUR
    assert resolution.paused == timedelta(0)
    assert resolution.stopped_at is None
    assert resolution.due == utc(3, 16)
    first_response = measured[FR]
    assert first_response is not None
    assert first_response.stopped_at == utc(2, 10, 30)

    again = sla.set_status(utc(3, 13), "closed")
    assert summary(again) == [("resolution", None, "stopped", "status changed to closed")]


def test_reopen_into_pause_status_restarts_paused() -> None:
    sla = TicketSla(make_rules(resume_on_reopen=True))
    sla.create(utc(2, 10))
    sla.set_status(utc(2, 12), "resolved")

    changes = sla.set_status(utc(3, 10), "waiting_on_customer")

    assert summary(changes)[-1] == ("resolution", None, "paused", "reopened")
    assert sla.resolution is not None
    assert sla.resolution.phase is Phase.PAUSED


def test_moving_between_stop_statuses_does_not_reopen() -> None:
    sla = TicketSla(make_rules(resume_on_reopen=True))
    sla.create(utc(2, 10))
    sla.set_status(utc(2, 12), "resolved")

    changes = sla.set_status(utc(2, 13), "closed")

    assert changes == []
    assert sla.resolution is not None
    assert sla.resolution.stopped


def test_reopen_takes_current_priority_target() -> None:
    sla = TicketSla(make_rules(resume_on_reopen=True))
    sla.create(utc(2, 10))
    sla.set_status(utc(2, 12), "resolved")
    sla.set_priority(utc(2, 13), "urgent")  # resolution is stopped, so it keeps 8 hours

    changes = sla.set_status(utc(3, 10), "open")

    assert summary(changes) == [
        ("resolution", None, "resumed", "reopened"),
        ("resolution", None, "retargeted", "reopened"),
    ]
    assert changes[-1].target == 2 * HOUR


# Order and validity


def test_events_must_follow_create_in_time_order() -> None:
    sla = TicketSla(make_rules())
    with pytest.raises(ValueError, match="call create"):
        sla.set_status(utc(2, 10), "open")

    sla.create(utc(2, 10))
    with pytest.raises(ValueError, match="already created"):
        sla.create(utc(2, 11))
    with pytest.raises(ValueError, match="earlier than the previous event"):
        sla.set_status(utc(2, 9), "open")


def test_invalid_author_leaves_state_unchanged() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))

    with pytest.raises(ValueError, match="'robot'"):
        sla.reply(utc(2, 12), by="robot", public=True)

    assert sla.last_event_at == utc(2, 10)


def test_measure_before_create_raises() -> None:
    with pytest.raises(ValueError, match="before it is created"):
        TicketSla(make_rules()).measure(OFFICE, utc(2, 10))


# Storage


def _drive(sla: TicketSla) -> None:
    sla.create(utc(2, 10), priority="normal")
    sla.reply(utc(2, 10, 20), by="agent", public=True)
    sla.reply(utc(2, 11), by="customer", public=True)
    sla.set_status(utc(2, 11, 5), "waiting_on_customer")


def test_state_round_trips_through_json() -> None:
    rules = make_rules()
    original = TicketSla(rules)
    _drive(original)

    stored = json.loads(json.dumps(original.to_dict()))
    restored = TicketSla.from_dict(stored, rules)

    assert restored.to_dict() == original.to_dict()
    assert restored.measure(OFFICE, utc(3, 12)) == original.measure(OFFICE, utc(3, 12))
    # Both continue identically.
    assert summary(restored.set_status(utc(3, 12), "open")) == summary(
        original.set_status(utc(3, 12), "open")
    )
    assert restored.to_dict() == original.to_dict()


def test_stored_state_is_plain_data() -> None:
    sla = TicketSla(make_rules())
    _drive(sla)

    data = sla.to_dict()

    assert data["status"] == "waiting_on_customer"
    assert data["first_responded"] is True
    assert data["created_at"] == "2026-03-02T10:00:00Z"
    assert data["next_response"][0] == {
        "metric": "next_response",
        "cycle": 1,
        "target_seconds": 7200,
        "transitions": [
            {"at": "2026-03-02T11:00:00Z", "phase": "running", "cause": "public customer reply"},
            {
                "at": "2026-03-02T11:05:00Z",
                "phase": "paused",
                "cause": "status changed to waiting_on_customer",
            },
        ],
    }


def test_track_from_dict_rejects_invalid_data() -> None:
    with pytest.raises(ValueError, match="missing the key"):
        Track.from_dict({"metric": "resolution"})
    with pytest.raises(ValueError, match="no transitions"):
        Track.from_dict({"metric": "resolution", "transitions": []})
    with pytest.raises(ValueError, match="cycle"):
        Track.from_dict(
            {
                "metric": "next_response",
                "cycle": 0,
                "transitions": [{"at": "2026-03-02T10:00:00Z", "phase": "running", "cause": "x"}],
            }
        )


def test_track_fire_instant_for_warning() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))
    assert sla.resolution is not None

    assert sla.resolution.fire_instant(OFFICE, 0.75) == utc(2, 16)
    assert sla.resolution.fire_instant(OFFICE) == utc(3, 10)


def test_change_to_dict() -> None:
    sla = TicketSla(make_rules())
    sla.create(utc(2, 10))

    change = sla.set_status(utc(2, 11), "waiting_on_customer")[0]

    assert change.to_dict() == {
        "at": "2026-03-02T11:00:00Z",
        "metric": "resolution",
        "cycle": None,
        "kind": "paused",
        "phase": "paused",
        "cause": "status changed to waiting_on_customer",
        "target_seconds": 28800,
    }
    assert change.describe() == "resolution paused: status changed to waiting_on_customer"


# Rules


def test_rules_target_lookup() -> None:
    rules = make_rules()

    assert rules.target(RES, "urgent") == 2 * HOUR
    assert rules.target(NR, "urgent") == 2 * HOUR  # not overridden, taken from targets
    assert rules.target(RES, None) == 8 * HOUR
    assert Rules().target(RES, None) is None


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"targets": {RES: timedelta(0)}}, "must be positive"),
        ({"priorities": {"p1": {FR: -HOUR}}}, "must be positive"),
        ({"stop_on": {NR: {"closed"}}}, "cannot be stopped by a status"),
        ({"pause_on": "pending"}, "got the string"),
    ],
    ids=["zero-target", "negative-priority-target", "stop-next-response", "string-pause-on"],
)
def test_rules_reject_invalid_values(overrides: dict[str, object], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make_rules(**overrides)
