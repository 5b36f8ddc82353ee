"""The metric clock: measure() and fire_instant() over a phase history, with a real calendar."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.calendars import BusinessCalendar
from opsdesk.sla.engine import Phase, Transition, fire_instant, measure

RUNNING, PAUSED, STOPPED = Phase.RUNNING, Phase.PAUSED, Phase.STOPPED
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")

# 09:00-17:00 UTC on weekdays; 2026-03-02 is a Monday.
OFFICE = BusinessCalendar.from_mapping(
    {
        "timezone": "UTC",
        "hours": {**{day: [["09:00", "17:00"]] for day in WEEKDAYS}, "sat": [], "sun": []},
    }
)
# Two ranges a day around lunch, a holiday (Good Friday 2026-04-03) and the spring
# clock change of 2026-03-29, for the property test.
BERLIN = BusinessCalendar.from_mapping(
    {
        "timezone": "Europe/Berlin",
        "hours": {day: [["08:00", "12:00"], ["13:00", "17:00"]] for day in WEEKDAYS},
        "holidays": ["2026-04-03"],
    }
)


def utc(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """Return an instant in March 2026 in UTC."""
    return datetime(2026, 3, day, hour, minute, second, tzinfo=UTC)


def history(*steps: tuple[datetime, Phase]) -> list[Transition]:
    return [Transition(at, phase, f"test step {index}") for index, (at, phase) in enumerate(steps)]


HOUR = timedelta(hours=1)


class CountingCalendar:
    """Wraps a calendar and counts the calls the engine makes."""

    def __init__(self, inner: BusinessCalendar) -> None:
        self.inner = inner
        self.calls = 0

    def add(self, start: datetime, duration: timedelta) -> datetime:
        self.calls += 1
        return self.inner.add(start, duration)

    def between(self, start: datetime, end: datetime) -> timedelta:
        self.calls += 1
        return self.inner.between(start, end)


# measure()


def test_running_clock_projects_due() -> None:
    result = measure(history((utc(2, 10), RUNNING)), OFFICE, 4 * HOUR, utc(2, 12))

    assert result.elapsed == 2 * HOUR
    assert result.paused == timedelta(0)
    assert result.due == utc(2, 14)
    assert result.breached is False
    assert result.phase is RUNNING
    assert result.stopped_at is None
    assert result.end == utc(2, 12)
    assert result.target == 4 * HOUR


def test_pause_overnight_counts_working_time_only() -> None:
    steps = history((utc(2, 10), RUNNING), (utc(2, 11), PAUSED), (utc(3, 10), RUNNING))

    result = measure(steps, OFFICE, 4 * HOUR, utc(3, 11))

    assert result.elapsed == 2 * HOUR
    # Monday 11:00-17:00 and Tuesday 09:00-10:00.
    assert result.paused == 7 * HOUR
    assert result.due == utc(3, 13)
    assert result.breached is False


def test_due_is_instant_target_ran_out_before_pause() -> None:
    steps = history((utc(2, 10), RUNNING), (utc(2, 15), PAUSED))

    result = measure(steps, OFFICE, 4 * HOUR, utc(3, 12))

    assert result.elapsed == 5 * HOUR
    assert result.due == utc(2, 14)
    assert result.breached is True
    assert result.paused == 5 * HOUR
    assert result.phase is PAUSED


def test_paused_clock_due_moves_with_measurement_instant() -> None:
    steps = history((utc(2, 10), RUNNING), (utc(2, 11), PAUSED))

    monday = measure(steps, OFFICE, 4 * HOUR, utc(2, 12))
    tuesday = measure(steps, OFFICE, 4 * HOUR, utc(3, 12))

    assert monday.due == utc(2, 15)
    assert tuesday.due == utc(3, 15)
    assert monday.breached is False
    assert tuesday.breached is False


def test_stopped_clock_measures_up_to_stop() -> None:
    steps = history((utc(2, 10), RUNNING), (utc(2, 13), STOPPED))

    result = measure(steps, OFFICE, 4 * HOUR, utc(4, 12))

    assert result.elapsed == 3 * HOUR
    assert result.due == utc(2, 14)
    assert result.breached is False
    assert result.stopped_at == utc(2, 13)
    assert result.end == utc(2, 13)
    assert result.phase is STOPPED


def test_stop_exactly_at_due_is_not_breached() -> None:
    on_time = history((utc(2, 10), RUNNING), (utc(2, 14), STOPPED))
    one_second_late = history((utc(2, 10), RUNNING), (utc(2, 14, 0, 1), STOPPED))

    assert measure(on_time, OFFICE, 4 * HOUR, utc(2, 15)).breached is False
    late = measure(one_second_late, OFFICE, 4 * HOUR, utc(2, 15))
    assert late.due == utc(2, 14)
    assert late.breached is True


def test_target_used_up_at_closing_ends_at_closing() -> None:
    steps = history((utc(2, 13), RUNNING))

    at_creation = measure(steps, OFFICE, 4 * HOUR, utc(2, 13))
    at_closing = measure(steps, OFFICE, 4 * HOUR, utc(2, 17))
    after_closing = measure(steps, OFFICE, 4 * HOUR, utc(2, 18))

    assert at_creation.due == utc(2, 17)
    assert at_closing.due == utc(2, 17)
    assert at_closing.breached is False
    assert after_closing.due == utc(2, 17)
    assert after_closing.breached is True


def test_created_outside_hours_starts_at_opening() -> None:
    saturday = datetime(2026, 3, 7, 12, tzinfo=UTC)

    result = measure(history((saturday, RUNNING)), OFFICE, 2 * HOUR, saturday)

    assert result.due == utc(9, 11)
    assert result.elapsed == timedelta(0)


def test_elapsed_counts_single_seconds() -> None:
    steps = history((utc(2, 8), RUNNING), (utc(2, 9, 0, 3), STOPPED))

    assert measure(steps, OFFICE, HOUR, utc(2, 12)).elapsed == timedelta(seconds=3)


def test_transitions_after_instant_are_ignored() -> None:
    steps = history((utc(2, 10), RUNNING), (utc(2, 12), PAUSED), (utc(2, 13), STOPPED))

    result = measure(steps, OFFICE, None, utc(2, 11))

    assert result.elapsed == HOUR
    assert result.phase is RUNNING
    assert result.stopped_at is None


def test_same_instant_transitions_take_last_phase() -> None:
    steps = history((utc(2, 10), RUNNING), (utc(2, 10), PAUSED), (utc(2, 10), STOPPED))

    result = measure(steps, OFFICE, HOUR, utc(2, 12))

    assert result.elapsed == timedelta(0)
    assert result.paused == timedelta(0)
    assert result.phase is STOPPED
    assert result.due == utc(2, 11)


def test_stopped_span_counts_neither_way() -> None:
    # A reopened clock: the time between stop and restart is neither consumed nor paused.
    steps = history((utc(2, 10), RUNNING), (utc(2, 12), STOPPED), (utc(3, 10), RUNNING))

    result = measure(steps, OFFICE, 4 * HOUR, utc(3, 11))

    assert result.elapsed == 3 * HOUR
    assert result.paused == timedelta(0)
    assert result.stopped_at is None
    assert result.phase is RUNNING
    assert result.due == utc(3, 12)


def test_no_target_gives_no_due() -> None:
    result = measure(history((utc(2, 10), RUNNING)), OFFICE, None, utc(3, 10))

    assert result.due is None
    assert result.breached is False
    assert result.elapsed == 8 * HOUR


def test_measure_calls_calendar_once_per_segment() -> None:
    steps = history(
        (utc(2, 10), RUNNING),
        (utc(2, 11), PAUSED),
        (utc(2, 12), RUNNING),
        (utc(2, 13), PAUSED),
        (utc(2, 14), RUNNING),
    )
    calendar = CountingCalendar(OFFICE)

    measure(steps, calendar, 40 * HOUR, utc(2, 16))

    # Five segments plus one add for the projected due.
    assert calendar.calls == 6


@pytest.mark.parametrize(
    ("steps", "at", "target", "message"),
    [
        ([], utc(2, 10), None, "at least one transition"),
        (
            history((utc(2, 12), RUNNING), (utc(2, 11), PAUSED)),
            utc(2, 13),
            None,
            "out of time order",
        ),
        (history((utc(2, 12), RUNNING)), utc(2, 11), None, "clock starts at"),
        (history((utc(2, 12), RUNNING)), utc(2, 13), timedelta(0), "target must be positive"),
    ],
    ids=["empty", "unordered", "before-start", "zero-target"],
)
def test_measure_rejects_invalid_input(
    steps: list[Transition], at: datetime, target: timedelta | None, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        measure(steps, OFFICE, target, at)


def test_measure_rejects_naive_instant() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        measure(history((utc(2, 10), RUNNING)), OFFICE, None, datetime(2026, 3, 2, 12))


# fire_instant()


def test_fire_instant_of_running_clock() -> None:
    steps = history((utc(2, 10), RUNNING))

    assert fire_instant(steps, OFFICE, 3 * HOUR) == utc(2, 13)
    # A warning at 75 % of an 8-hour target: 6 working hours from Monday 10:00.
    assert fire_instant(steps, OFFICE, 8 * HOUR * 0.75) == utc(2, 16)


def test_fire_instant_after_resume() -> None:
    steps = history((utc(2, 10), RUNNING), (utc(2, 11), PAUSED), (utc(3, 10), RUNNING))

    assert fire_instant(steps, OFFICE, 4 * HOUR) == utc(3, 13)


def test_fire_instant_none_when_paused_or_stopped_short() -> None:
    paused = history((utc(2, 10), RUNNING), (utc(2, 11), PAUSED))
    stopped = history((utc(2, 10), RUNNING), (utc(2, 11), STOPPED))

    assert fire_instant(paused, OFFICE, 2 * HOUR) is None
    assert fire_instant(stopped, OFFICE, 2 * HOUR) is None


def test_fire_instant_returns_past_instant_once_reached() -> None:
    paused_after = history((utc(2, 10), RUNNING), (utc(2, 15), PAUSED))
    stopped_after = history((utc(2, 10), RUNNING), (utc(2, 15), STOPPED))

    assert fire_instant(paused_after, OFFICE, 4 * HOUR) == utc(2, 14)
    assert fire_instant(stopped_after, OFFICE, 4 * HOUR) == utc(2, 14)


def test_fire_instant_rejects_non_positive_amount() -> None:
    with pytest.raises(ValueError, match="amount must be positive"):
        fire_instant(history((utc(2, 10), RUNNING)), OFFICE, timedelta(0))


# Transition


def test_transition_normalises_to_utc() -> None:
    berlin_noon = datetime.fromisoformat("2026-03-02T12:00:00+01:00")

    transition = Transition(berlin_noon, "paused", "status changed to waiting")  # type: ignore[arg-type]

    assert transition.at == utc(2, 11)
    assert transition.at.tzinfo is UTC
    assert transition.phase is PAUSED


def test_transition_round_trips_through_json() -> None:
    transition = Transition(utc(2, 11, 30, 15), STOPPED, "public agent reply")

    data = json.loads(json.dumps(transition.to_dict()))

    assert data == {"at": "2026-03-02T11:30:15Z", "phase": "stopped", "cause": "public agent reply"}
    assert Transition.from_dict(data) == transition


def test_transition_from_dict_converts_offset() -> None:
    data = {"at": "2026-03-02T12:00:00+01:00", "phase": "running", "cause": "x"}

    assert Transition.from_dict(data).at == utc(2, 11)


@pytest.mark.parametrize(
    "data",
    [
        {"phase": "running", "cause": "x"},
        {"at": "2026-03-02T12:00:00", "phase": "running", "cause": "x"},
        {"at": "2026-03-02T12:00:00Z", "phase": "sleeping", "cause": "x"},
        {"at": 5, "phase": "running", "cause": "x"},
    ],
    ids=["missing-at", "no-offset", "unknown-phase", "number-at"],
)
def test_transition_from_dict_rejects_invalid_data(data: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="transition"):
        Transition.from_dict(data)


def test_transition_rejects_naive_instant() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        Transition(datetime(2026, 3, 2, 12), RUNNING, "x")


# Properties over random histories

START = datetime(2026, 3, 20, tzinfo=UTC)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Transition], datetime, timedelta]:
    """Draw a history over the spring clock change and Easter, an instant and a target."""
    at = START + timedelta(seconds=draw(st.integers(0, 10 * 86400)))
    steps = [Transition(at, draw(st.sampled_from([RUNNING, PAUSED])), "created")]
    for _ in range(draw(st.integers(0, 6))):
        at += timedelta(seconds=draw(st.integers(0, 3 * 86400)))
        steps.append(Transition(at, draw(st.sampled_from([RUNNING, PAUSED])), "status"))
    if draw(st.booleans()):
        at += timedelta(seconds=draw(st.integers(0, 86400)))
        steps.append(Transition(at, STOPPED, "stop"))
    measured_at = at + timedelta(seconds=draw(st.integers(0, 5 * 86400)))
    target = timedelta(seconds=draw(st.integers(1, 40 * 3600)))
    return steps, measured_at, target


@settings(max_examples=150, deadline=None, database=None)
@given(histories())
def test_measure_properties(case: tuple[list[Transition], datetime, timedelta]) -> None:
    steps, at, target = case

    result = measure(steps, BERLIN, target, at)

    assert result.due is not None
    # Running and paused spans together cover the working time from start to end.
    assert result.elapsed + result.paused == BERLIN.between(steps[0].at, result.end)
    if result.elapsed >= target:
        # The due lies in a running span, where the consumed time equals the target.
        assert measure(steps, BERLIN, None, result.due).elapsed == target
        assert result.due <= result.end
    else:
        assert result.due >= result.end
        assert result.elapsed + BERLIN.between(result.end, result.due) == target
        assert result.breached is False
    assert result.breached == (result.end > result.due)

    fired = fire_instant(steps, BERLIN, target)
    if result.elapsed >= target or result.phase is RUNNING:
        assert fired == result.due
    else:
        assert fired is None
