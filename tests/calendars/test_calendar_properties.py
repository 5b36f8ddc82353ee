"""Properties of calendar arithmetic over random weekly hours, holidays and instants.

Calendars are drawn in Europe/Berlin, America/New_York, Australia/Sydney and Africa/Lagos,
with zero to three ranges per day (split days included), and start instants drawn from
2015 to 2030, half of them within days of a clock change. Durations run from one second
to 90 days of working time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import holidays
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from opsdesk.calendars import BusinessCalendar

ZONES = ("Europe/Berlin", "America/New_York", "Australia/Sydney", "Africa/Lagos")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
FIRST_START = datetime(2015, 1, 1, tzinfo=UTC)
LAST_START = datetime(2030, 12, 31, tzinfo=UTC)
# Below this much working time a week, 90 days of working time can lie beyond the
# calendar's 20-year search limit.
MIN_WEEKLY_MINUTES = 3 * 60

PROPERTY_SETTINGS = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _transition_days(zone_name: str) -> list[datetime]:
    """Return UTC midnight of each date in 2015–2030 on which the noon offset changed."""
    zone = ZoneInfo(zone_name)
    days = []
    day = date(2015, 1, 1)
    previous = datetime.combine(day, time(12), zone).utcoffset()
    while day.year <= 2030:
        day += timedelta(days=1)
        offset = datetime.combine(day, time(12), zone).utcoffset()
        if offset != previous:
            days.append(datetime.combine(day, time(0), UTC))
        previous = offset
    return days


TRANSITION_DAYS = sorted(day for zone in ZONES for day in _transition_days(zone))


def _minutes_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


boundary_minutes = st.one_of(
    st.integers(0, 48).map(lambda half_hours: half_hours * 30), st.integers(0, 1440)
)


@st.composite
def day_hours(draw: st.DrawFn) -> list[list[str]]:
    boundaries = sorted(draw(st.sets(boundary_minutes, max_size=6)))
    if len(boundaries) % 2:
        boundaries.pop()
    return [
        [_minutes_text(start), _minutes_text(end)]
        for start, end in zip(boundaries[::2], boundaries[1::2], strict=True)
    ]


def _weekly_minutes(week: dict[str, list[list[str]]]) -> int:
    total = 0
    for pairs in week.values():
        for start, end in pairs:
            start_hour, start_minute = map(int, start.split(":"))
            end_hour, end_minute = map(int, end.split(":"))
            total += (end_hour - start_hour) * 60 + end_minute - start_minute
    return total


@st.composite
def calendar_mappings(draw: st.DrawFn) -> dict[str, Any]:
    week = {name: draw(day_hours()) for name in WEEKDAYS}
    assume(_weekly_minutes(week) >= MIN_WEEKLY_MINUTES)

    holiday_entries: list[Any] = [
        day.isoformat()
        for day in draw(
            st.lists(st.dates(date(2014, 12, 1), date(2031, 6, 30)), max_size=4, unique=True)
        )
    ]
    for day in draw(st.lists(st.dates(date(2016, 1, 1), date(2016, 12, 31)), max_size=2)):
        holiday_entries.append({"date": day.isoformat(), "recurring": True})
    if draw(st.integers(0, 9)) == 0:
        holiday_entries.append({"country": "NG"})
    return {"timezone": draw(st.sampled_from(ZONES)), "hours": week, "holidays": holiday_entries}


def _from_microseconds(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def _to_microseconds(value: datetime) -> int:
    return (value - EPOCH) // ONE_MICROSECOND


uniform_instants = st.integers(_to_microseconds(FIRST_START), _to_microseconds(LAST_START)).map(
    _from_microseconds
)
near_transition_instants = st.builds(
    lambda day, offset: day + timedelta(microseconds=offset),
    st.sampled_from(TRANSITION_DAYS),
    st.integers(-2 * 86_400_000_000, 3 * 86_400_000_000),
)
# Instants in random fixed offsets, because the calendar must compare them as instants.
instants = st.builds(
    lambda instant, minutes: instant.astimezone(timezone(timedelta(minutes=minutes))),
    st.one_of(uniform_instants, near_transition_instants),
    st.integers(-14 * 60, 14 * 60),
)
durations = st.builds(
    lambda seconds, microseconds: timedelta(seconds=seconds, microseconds=microseconds),
    st.integers(1, 90 * 86_400),
    st.one_of(st.just(0), st.integers(0, 999_999)),
)
signed_durations = st.builds(
    lambda duration, negative: -duration if negative else duration, durations, st.booleans()
)


def reference_between(mapping: dict[str, Any], start: datetime, end: datetime) -> timedelta:
    """Return the working time in [start, end), found day by day with datetime arithmetic."""
    zone = ZoneInfo(mapping["timezone"])
    dates: set[date] = set()
    recurring: set[tuple[int, int]] = set()
    country_tables = []
    for entry in mapping["holidays"]:
        if isinstance(entry, str):
            dates.add(date.fromisoformat(entry))
        elif "country" in entry:
            country_tables.append(holidays.country_holidays(entry["country"]))
        else:
            day = date.fromisoformat(entry["date"])
            recurring.add((day.month, day.day))

    def wall_clock(day: date, text: str) -> datetime:
        # A naive wall-clock time with a zone attached has fold=0, as the rules require.
        if text == "24:00":
            return datetime.combine(day + timedelta(days=1), time(0), zone)
        hour, minute = map(int, text.split(":"))
        return datetime.combine(day, time(hour, minute), zone)

    ranges = []
    day = start.astimezone(zone).date() - timedelta(days=2)
    last_day = end.astimezone(zone).date() + timedelta(days=2)
    while day <= last_day:
        is_holiday = (
            day in dates
            or (day.month, day.day) in recurring
            or any(day in table for table in country_tables)
        )
        if not is_holiday:
            for start_text, end_text in mapping["hours"][WEEKDAYS[day.weekday()]]:
                range_start = wall_clock(day, start_text).astimezone(UTC)
                range_end = wall_clock(day, end_text).astimezone(UTC)
                if range_start < range_end:
                    ranges.append((range_start, range_end))
        day += timedelta(days=1)

    merged: list[list[datetime]] = []
    for range_start, range_end in sorted(ranges):
        if merged and range_start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], range_end)
        else:
            merged.append([range_start, range_end])

    total = timedelta(0)
    for range_start, range_end in merged:
        overlap = min(range_end, end) - max(range_start, start)
        if overlap > timedelta(0):
            total += overlap
    return total


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, durations)
def test_between_of_add_is_duration(
    mapping: dict[str, Any], start: datetime, duration: timedelta
) -> None:
    calendar = BusinessCalendar.from_mapping(mapping)

    later = calendar.add(start, duration)
    earlier = calendar.add(start, -duration)

    assert later > start
    assert calendar.between(start, later) == duration
    assert earlier < start
    assert calendar.between(earlier, start) == duration


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, durations)
def test_add_is_earliest_and_latest(
    mapping: dict[str, Any], start: datetime, duration: timedelta
) -> None:
    calendar = BusinessCalendar.from_mapping(mapping)

    # The microsecond before a forward result is working time, so no earlier instant has
    # the same working time from start. The result of a backward add is working time itself.
    assert calendar.is_working(calendar.add(start, duration) - ONE_MICROSECOND)
    assert calendar.is_working(calendar.add(start, -duration))


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, instants, signed_durations)
def test_add_monotonic_in_start(
    mapping: dict[str, Any], first: datetime, second: datetime, duration: timedelta
) -> None:
    calendar = BusinessCalendar.from_mapping(mapping)
    earlier, later = sorted((first, second))

    assert calendar.add(earlier, duration) <= calendar.add(later, duration)


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, signed_durations, signed_durations)
def test_add_monotonic_in_duration(
    mapping: dict[str, Any], start: datetime, first: timedelta, second: timedelta
) -> None:
    calendar = BusinessCalendar.from_mapping(mapping)
    shorter, longer = sorted((first, second))

    assert calendar.add(start, shorter) <= calendar.add(start, longer)


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, durations)
def test_add_then_subtract(mapping: dict[str, Any], start: datetime, duration: timedelta) -> None:
    """Adding d and then -d returns to the next opening at or after start.

    The backward add returns the latest instant with the same working time after it as
    start, which is start itself when start is working time, else the next opening.
    Symmetrically, subtracting then adding returns the earliest instant with the same working
    time before it: start when the microsecond before it is working time, else the last
    closing before start.
    """
    calendar = BusinessCalendar.from_mapping(mapping)

    returned = calendar.add(calendar.add(start, duration), -duration)
    assert returned == calendar.next_opening(start)
    assert calendar.is_working(returned)

    returned_back = calendar.add(calendar.add(start, -duration), duration)
    assert returned_back <= start
    assert calendar.between(returned_back, start) == timedelta(0)
    assert calendar.is_working(returned_back - ONE_MICROSECOND)
    if calendar.is_working(start - ONE_MICROSECOND):
        assert returned_back == start
    else:
        assert not calendar.is_working(returned_back)


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, st.integers(0, 10 * 86_400_000_000))
def test_between_matches_day_by_day_reference(
    mapping: dict[str, Any], start: datetime, span_microseconds: int
) -> None:
    calendar = BusinessCalendar.from_mapping(mapping)
    end = start + timedelta(microseconds=span_microseconds)

    assert calendar.between(start, end) == reference_between(mapping, start, end)


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, instants, instants)
def test_between_is_additive(
    mapping: dict[str, Any], first: datetime, second: datetime, third: datetime
) -> None:
    calendar = BusinessCalendar.from_mapping(mapping)
    start, middle, end = sorted((first, second, third))

    assert calendar.between(start, middle) + calendar.between(middle, end) == calendar.between(
        start, end
    )
    assert calendar.between(end, start) == timedelta(0)


@PROPERTY_SETTINGS
@given(calendar_mappings(), instants, st.integers(0, 60 * 86_400_000_000))
def test_working_ranges_sum_to_between(
    mapping: dict[str, Any], start: datetime, span_microseconds: int
) -> None:
    calendar = BusinessCalendar.from_mapping(mapping)
    end = start + timedelta(microseconds=span_microseconds)

    ranges = calendar.working_ranges(start, end)

    assert sum((range_end - range_start for range_start, range_end in ranges), timedelta(0)) == (
        calendar.between(start, end)
    )
    for (_, previous_end), (next_start, _) in pairwise(ranges):
        assert previous_end < next_start


@PROPERTY_SETTINGS
@given(st.sampled_from(ZONES), instants, signed_durations)
def test_round_the_clock_is_wall_clock_time(
    zone: str, start: datetime, duration: timedelta
) -> None:
    calendar = BusinessCalendar.from_mapping(
        {"timezone": zone, "hours": {day: [["00:00", "24:00"]] for day in WEEKDAYS}}
    )

    assert calendar.add(start, duration) == start + duration
    assert calendar.between(start, start + abs(duration)) == abs(duration)
    assert calendar.working_ranges(start, start + abs(duration)) == [(start, start + abs(duration))]
