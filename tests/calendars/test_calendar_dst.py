"""Working ranges on days with a clock change.

A wall-clock time skipped by a forward change is read with the offset in force before the
change, and a time that occurs twice is read as its first occurrence.

Changes used here (all on Sundays):
- Europe/Berlin: 2016-03-27 02:00 CET -> 03:00 CEST; 2016-10-30 03:00 CEST -> 02:00 CET.
- America/New_York: 2016-03-13 02:00 EST -> 03:00 EDT; 2016-11-06 02:00 EDT -> 01:00 EST.
- Australia/Sydney: 2016-10-02 02:00 AEST -> 03:00 AEDT.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from opsdesk.calendars import BusinessCalendar


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def sunday_calendar(timezone: str, *pairs: tuple[str, str]) -> BusinessCalendar:
    return BusinessCalendar.from_mapping(
        {"timezone": timezone, "hours": {"sun": [list(pair) for pair in pairs]}}
    )


def ranges_on(calendar: BusinessCalendar, day: str) -> list[tuple[datetime, datetime]]:
    """Return the UTC working ranges from noon the day before to noon the day after."""
    midnight = at(f"{day}T00:00:00+00:00")
    return calendar.working_ranges(midnight - timedelta(hours=12), midnight + timedelta(hours=36))


@pytest.mark.parametrize(
    ("timezone", "wall_clock", "expected_offset_hours"),
    [
        ("Europe/Berlin", datetime(2016, 3, 27, 2, 30), 1),  # skipped: offset before (CET)
        ("Europe/Berlin", datetime(2016, 10, 30, 2, 30), 2),  # repeated: first (CEST)
        ("America/New_York", datetime(2016, 3, 13, 2, 30), -5),  # skipped: EST
        ("America/New_York", datetime(2016, 11, 6, 1, 30), -4),  # repeated: first (EDT)
        ("Australia/Sydney", datetime(2016, 10, 2, 2, 30), 10),  # skipped: AEST
    ],
)
def test_zoneinfo_fold_zero_uses_offset_before_change(
    timezone: str, wall_clock: datetime, expected_offset_hours: int
) -> None:
    # The calendar reads wall-clock times with fold=0, so this pins what zoneinfo does with it.
    local = wall_clock.replace(tzinfo=ZoneInfo(timezone), fold=0)

    assert local.utcoffset() == timedelta(hours=expected_offset_hours)


# Europe/Berlin, forward


def test_berlin_range_starting_in_skipped_hour() -> None:
    calendar = sunday_calendar("Europe/Berlin", ("02:30", "05:00"))

    # 02:30 read as CET is 01:30Z, and 05:00 CEST is 03:00Z.
    assert ranges_on(calendar, "2016-03-27") == [
        (at("2016-03-27T01:30:00Z"), at("2016-03-27T03:00:00Z"))
    ]
    assert ranges_on(calendar, "2016-03-20") == [
        (at("2016-03-20T01:30:00Z"), at("2016-03-20T04:00:00Z"))
    ]


def test_berlin_range_inside_skipped_hour() -> None:
    calendar = sunday_calendar("Europe/Berlin", ("02:15", "02:45"))

    assert ranges_on(calendar, "2016-03-27") == [
        (at("2016-03-27T01:15:00Z"), at("2016-03-27T01:45:00Z"))
    ]


def test_berlin_range_inverted_by_skipped_hour_is_empty() -> None:
    # 02:45 read as CET is 01:45Z, later than 03:10 CEST, which is 01:10Z.
    calendar = sunday_calendar("Europe/Berlin", ("02:45", "03:10"))

    assert ranges_on(calendar, "2016-03-27") == []
    assert calendar.between(
        at("2016-03-27T00:00:00+01:00"), at("2016-03-28T00:00:00+02:00")
    ) == timedelta(0)
    assert ranges_on(calendar, "2016-04-03") == [
        (at("2016-04-03T00:45:00Z"), at("2016-04-03T01:10:00Z"))
    ]


def test_berlin_add_across_skipped_hour() -> None:
    calendar = sunday_calendar("Europe/Berlin", ("01:00", "05:00"))
    start = at("2016-03-27T01:30:00+01:00")

    assert calendar.add(start, timedelta(hours=1)) == at("2016-03-27T03:30:00+02:00")
    assert calendar.between(
        at("2016-03-27T00:00:00+01:00"), at("2016-03-28T00:00:00+02:00")
    ) == timedelta(hours=3)


def test_berlin_weekday_add_over_forward_weekend() -> None:
    office = BusinessCalendar.from_mapping(
        {
            "timezone": "Europe/Berlin",
            "hours": {day: [["08:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")},
        }
    )

    friday = at("2016-03-25T17:00:00+01:00")

    assert office.add(friday, timedelta(hours=2)) == at("2016-03-28T07:00:00Z")
    assert office.add(at("2016-03-28T09:00:00+02:00"), -timedelta(hours=2)) == friday


# Europe/Berlin, backward


def test_berlin_range_containing_repeated_hour() -> None:
    calendar = sunday_calendar("Europe/Berlin", ("01:00", "04:00"))

    assert ranges_on(calendar, "2016-10-30") == [
        (at("2016-10-29T23:00:00Z"), at("2016-10-30T03:00:00Z"))
    ]


def test_berlin_range_starting_in_repeated_hour() -> None:
    # 02:30 is read as its first occurrence, 02:30 CEST.
    calendar = sunday_calendar("Europe/Berlin", ("02:30", "03:30"))

    assert ranges_on(calendar, "2016-10-30") == [
        (at("2016-10-30T00:30:00Z"), at("2016-10-30T02:30:00Z"))
    ]


def test_berlin_range_ending_in_repeated_hour() -> None:
    # 02:30 is read as its first occurrence, so the second pass of 02:00-02:30 is closed.
    calendar = sunday_calendar("Europe/Berlin", ("00:00", "02:30"))

    assert ranges_on(calendar, "2016-10-30") == [
        (at("2016-10-29T22:00:00Z"), at("2016-10-30T00:30:00Z"))
    ]
    assert not calendar.is_working(at("2016-10-30T02:15:00+01:00"))
    assert calendar.is_working(at("2016-10-30T02:15:00+02:00"))


def test_berlin_add_through_repeated_hour() -> None:
    calendar = sunday_calendar("Europe/Berlin", ("00:00", "24:00"))
    start = at("2016-10-30T02:30:00+02:00")

    assert calendar.add(start, timedelta(hours=1)) == at("2016-10-30T02:30:00+01:00")


def test_berlin_round_the_clock_day_lengths() -> None:
    calendar = sunday_calendar("Europe/Berlin", ("00:00", "24:00"))

    spring = calendar.between(at("2016-03-27T00:00:00+01:00"), at("2016-03-28T00:00:00+02:00"))
    autumn = calendar.between(at("2016-10-30T00:00:00+02:00"), at("2016-10-31T00:00:00+01:00"))

    assert spring == timedelta(hours=23)
    assert autumn == timedelta(hours=25)


# America/New_York


def test_new_york_range_starting_in_skipped_hour() -> None:
    calendar = sunday_calendar("America/New_York", ("02:30", "04:00"))

    # 02:30 read as EST is 07:30Z, and 04:00 EDT is 08:00Z.
    assert ranges_on(calendar, "2016-03-13") == [
        (at("2016-03-13T07:30:00Z"), at("2016-03-13T08:00:00Z"))
    ]


def test_new_york_range_ending_at_skipped_time() -> None:
    calendar = sunday_calendar("America/New_York", ("00:00", "02:00"))

    # 02:00 read as EST is 07:00Z, the instant of the change.
    assert ranges_on(calendar, "2016-03-13") == [
        (at("2016-03-13T05:00:00Z"), at("2016-03-13T07:00:00Z"))
    ]


def test_new_york_range_containing_repeated_hour() -> None:
    calendar = sunday_calendar("America/New_York", ("00:30", "03:00"))

    assert ranges_on(calendar, "2016-11-06") == [
        (at("2016-11-06T04:30:00Z"), at("2016-11-06T08:00:00Z"))
    ]
    assert calendar.between(
        at("2016-11-06T00:00:00-04:00"), at("2016-11-07T00:00:00-05:00")
    ) == timedelta(hours=3, minutes=30)


def test_new_york_range_starting_in_repeated_hour() -> None:
    # 01:30 is read as 01:30 EDT, so the range spans both passes of 01:30-02:00.
    calendar = sunday_calendar("America/New_York", ("01:30", "02:00"))

    assert ranges_on(calendar, "2016-11-06") == [
        (at("2016-11-06T05:30:00Z"), at("2016-11-06T07:00:00Z"))
    ]


def test_new_york_instants_in_other_offsets() -> None:
    calendar = sunday_calendar("America/New_York", ("01:00", "04:00"))
    start = at("2016-03-13T07:00:00+01:00")  # 06:00Z, 01:00 EST
    end = at("2016-03-13T10:00:00+02:00")  # 08:00Z, 04:00 EDT

    assert calendar.between(start, end) == timedelta(hours=2)
    assert calendar.add(start, timedelta(hours=2)) == datetime(2016, 3, 13, 8, tzinfo=UTC)


# Australia/Sydney


def test_sydney_range_starting_in_skipped_hour() -> None:
    calendar = sunday_calendar("Australia/Sydney", ("02:30", "09:00"))

    # 02:30 read as AEST is 16:30Z the day before, and 09:00 AEDT is 22:00Z.
    assert ranges_on(calendar, "2016-10-01") == [
        (at("2016-10-01T16:30:00Z"), at("2016-10-01T22:00:00Z"))
    ]
