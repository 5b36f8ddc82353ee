"""Examples of `add`, `between` and the other queries on calendars without clock changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import holidays
import pytest

from opsdesk.calendars import BusinessCalendar, CalendarError, parse_duration

SPLIT_DAY = [["08:00", "13:00"], ["14:00", "18:00"]]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def hours(count: float) -> timedelta:
    return timedelta(hours=count)


def make_calendar(
    *, timezone: str = "Europe/Berlin", week: Any = None, holidays: Any = None
) -> BusinessCalendar:
    weekdays = SPLIT_DAY if week is None else week
    mapping: dict[str, Any] = {
        "timezone": timezone,
        "hours": {day: weekdays for day in ("mon", "tue", "wed", "thu", "fri")},
    }
    if holidays is not None:
        mapping["holidays"] = holidays
    return BusinessCalendar.from_mapping(mapping)


@pytest.fixture
def office() -> BusinessCalendar:
    """Mon–Fri 08:00–13:00 and 14:00–18:00 in Berlin. 2016-02-01 is a Monday."""
    return make_calendar()


# Lunch breaks and several ranges per day


def test_add_skips_lunch_break(office: BusinessCalendar) -> None:
    assert office.add(at("2016-02-01T12:30:00+01:00"), hours(1)) == at("2016-02-01T14:30:00+01:00")


def test_between_excludes_lunch_break(office: BusinessCalendar) -> None:
    start = at("2016-02-01T12:00:00+01:00")
    end = at("2016-02-01T15:00:00+01:00")

    assert office.between(start, end) == hours(2)


def test_add_ending_at_lunch_ends_there(office: BusinessCalendar) -> None:
    assert office.add(at("2016-02-01T12:00:00+01:00"), hours(1)) == at("2016-02-01T13:00:00+01:00")


def test_add_ending_at_closing_ends_there(office: BusinessCalendar) -> None:
    assert office.add(at("2016-02-01T17:00:00+01:00"), hours(1)) == at("2016-02-01T18:00:00+01:00")


def test_add_from_closing_starts_next_day(office: BusinessCalendar) -> None:
    assert office.add(at("2016-02-01T18:00:00+01:00"), hours(1)) == at("2016-02-02T09:00:00+01:00")


def test_add_from_weekend_starts_monday(office: BusinessCalendar) -> None:
    saturday = at("2016-02-06T10:00:00+01:00")

    assert office.add(saturday, hours(2)) == at("2016-02-08T10:00:00+01:00")


def test_add_over_weekend(office: BusinessCalendar) -> None:
    friday = at("2016-02-05T17:00:00+01:00")

    assert office.add(friday, hours(2)) == at("2016-02-08T09:00:00+01:00")


def test_add_full_week(office: BusinessCalendar) -> None:
    monday = at("2016-02-01T08:00:00+01:00")

    assert office.add(monday, hours(45)) == at("2016-02-05T18:00:00+01:00")


def test_add_long_duration_ends_on_expected_day(office: BusinessCalendar) -> None:
    # 2160 working hours are 240 days of 9 hours, 48 weeks of five days, so the duration
    # ends at closing on the Friday of the 48th week, with the clock change on the way.
    monday = at("2024-01-01T08:00:00+01:00")

    result = office.add(monday, hours(2160))

    assert result == at("2024-11-29T18:00:00+01:00")
    assert office.between(monday, result) == hours(2160)


def test_add_one_microsecond(office: BusinessCalendar) -> None:
    start = at("2016-02-01T17:59:59.999999+01:00")

    assert office.add(start, timedelta(microseconds=1)) == at("2016-02-01T18:00:00+01:00")
    assert office.add(start, timedelta(microseconds=2)) == at("2016-02-02T08:00:00.000001+01:00")


def test_add_zero_returns_start_in_utc(office: BusinessCalendar) -> None:
    saturday = at("2016-02-06T10:00:00+01:00")

    result = office.add(saturday, timedelta(0))

    assert result == saturday
    assert result.tzinfo is UTC


def test_add_returns_utc(office: BusinessCalendar) -> None:
    result = office.add(at("2016-02-01T12:30:00+01:00"), hours(1))

    assert result.tzinfo is UTC
    assert result == datetime(2016, 2, 1, 13, 30, tzinfo=UTC)


# Negative durations


def test_add_negative_skips_lunch(office: BusinessCalendar) -> None:
    assert office.add(at("2016-02-01T14:30:00+01:00"), -hours(1)) == at("2016-02-01T12:30:00+01:00")


def test_add_negative_ending_at_opening_ends_there(office: BusinessCalendar) -> None:
    # The latest instant with one working hour before 15:00 is 14:00, not 13:00.
    assert office.add(at("2016-02-01T15:00:00+01:00"), -hours(1)) == at("2016-02-01T14:00:00+01:00")


def test_add_negative_crosses_weekend(office: BusinessCalendar) -> None:
    monday = at("2016-02-08T09:00:00+01:00")

    assert office.add(monday, -hours(2)) == at("2016-02-05T17:00:00+01:00")


def test_add_negative_from_closed_time(office: BusinessCalendar) -> None:
    sunday = at("2016-02-07T12:00:00+01:00")

    assert office.add(sunday, -hours(1)) == at("2016-02-05T17:00:00+01:00")


def test_add_negative_reaches_previous_year(office: BusinessCalendar) -> None:
    # The stored span grows backwards when the result lies before it.
    start = at("2016-01-04T08:00:00+01:00")
    result = office.add(start, -hours(900))

    # 900 hours are 100 days of 9 hours, 20 weeks of five days.
    assert result == at("2015-08-17T08:00:00+02:00")
    assert office.between(result, start) == hours(900)


# between


def test_between_reversed_range_is_zero(office: BusinessCalendar) -> None:
    start = at("2016-02-01T15:00:00+01:00")
    end = at("2016-02-01T09:00:00+01:00")

    assert office.between(start, end) == timedelta(0)


def test_between_empty_range_is_zero(office: BusinessCalendar) -> None:
    instant = at("2016-02-01T15:00:00+01:00")

    assert office.between(instant, instant) == timedelta(0)


def test_between_mixed_offsets(office: BusinessCalendar) -> None:
    # 07:00Z is 08:00 in Berlin, and 12:00-05:00 is 18:00 in Berlin.
    start = at("2016-02-01T07:00:00+00:00")
    end = at("2016-02-01T12:00:00-05:00")

    assert office.between(start, end) == hours(9)


def test_add_accepts_other_offsets(office: BusinessCalendar) -> None:
    start = at("2016-02-01T02:30:00-05:00")  # 08:30 in Berlin

    assert office.add(start, hours(1)) == at("2016-02-01T09:30:00+01:00")


def test_naive_datetime_rejected(office: BusinessCalendar) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        office.between(datetime(2016, 2, 1, 9, 0), at("2016-02-01T10:00:00+01:00"))
    with pytest.raises(ValueError, match="naive datetime"):
        office.add(datetime(2016, 2, 1, 9, 0), hours(1))


def test_between_far_apart_rejected(office: BusinessCalendar) -> None:
    with pytest.raises(CalendarError, match="at most 100 years"):
        office.between(at("2000-01-01T00:00:00Z"), at("2150-01-01T00:00:00Z"))


def test_calls_far_apart_in_time(office: BusinessCalendar) -> None:
    # The stored span restarts around a request far from it, then serves the first again.
    assert office.add(at("2016-02-01T12:30:00+01:00"), hours(1)) == at("2016-02-01T14:30:00+01:00")
    assert office.add(at("2180-02-07T12:30:00+01:00"), hours(1)) == at("2180-02-07T14:30:00+01:00")
    assert office.add(at("2016-02-01T12:30:00+01:00"), hours(1)) == at("2016-02-01T14:30:00+01:00")


# "24:00"


def test_range_ending_at_midnight_joins_next_day() -> None:
    calendar = BusinessCalendar.from_mapping(
        {
            "timezone": "Europe/Berlin",
            "hours": {"fri": [["20:00", "24:00"]], "sat": [["00:00", "04:00"]]},
        }
    )
    friday_evening = at("2016-02-05T20:00:00+01:00")
    saturday_morning = at("2016-02-06T04:00:00+01:00")

    assert calendar.add(at("2016-02-05T23:00:00+01:00"), hours(2)) == at(
        "2016-02-06T01:00:00+01:00"
    )
    assert calendar.between(friday_evening, saturday_morning) == hours(8)
    assert calendar.working_ranges(friday_evening, saturday_morning) == [
        (friday_evening, saturday_morning)
    ]
    assert calendar.is_working(at("2016-02-06T00:00:00+01:00"))


def test_midnight_end_on_last_day_of_week() -> None:
    calendar = BusinessCalendar.from_mapping(
        {"timezone": "UTC", "hours": {"sun": [["22:00", "24:00"]], "mon": [["00:00", "01:00"]]}}
    )

    sunday = at("2016-02-07T22:00:00Z")

    assert calendar.add(sunday, hours(3)) == at("2016-02-08T01:00:00Z")
    assert calendar.working_ranges(sunday, at("2016-02-09T00:00:00Z")) == [
        (sunday, at("2016-02-08T01:00:00Z"))
    ]


# Holidays


def test_date_holiday_closes_day() -> None:
    calendar = make_calendar(holidays=["2016-02-02"])

    monday_evening = at("2016-02-01T17:00:00+01:00")

    assert calendar.add(monday_evening, hours(2)) == at("2016-02-03T09:00:00+01:00")
    assert calendar.between(monday_evening, at("2016-02-03T08:00:00+01:00")) == hours(1)


def test_non_recurring_holiday_only_that_year() -> None:
    calendar = make_calendar(holidays=[{"date": "2016-02-02", "recurring": False}])
    tuesday_2016 = at("2016-02-02T08:00:00+01:00")
    thursday_2017 = at("2017-02-02T08:00:00+01:00")

    assert calendar.between(tuesday_2016, tuesday_2016 + hours(24)) == timedelta(0)
    assert calendar.between(thursday_2017, thursday_2017 + hours(24)) == hours(9)


def test_recurring_holiday_every_year() -> None:
    calendar = make_calendar(holidays=[{"date": "2015-12-25", "recurring": True}])

    for year, weekday_of_christmas in ((2017, "Monday"), (2018, "Tuesday"), (2030, "Wednesday")):
        christmas = at(f"{year}-12-25T00:00:00+01:00")
        assert calendar.between(christmas, christmas + hours(24)) == timedelta(0), (
            f"{weekday_of_christmas} {year}-12-25 should be closed"
        )
        next_day = christmas + hours(24)
        assert calendar.between(next_day, next_day + hours(24)) == hours(9)


def test_recurring_leap_day_only_in_leap_years() -> None:
    calendar = make_calendar(holidays=[{"date": "2016-02-29", "recurring": True}])
    leap_day = at("2024-02-29T00:00:00+01:00")  # a Thursday
    first_of_march = at("2023-03-01T00:00:00+01:00")  # a Wednesday

    assert calendar.between(leap_day, leap_day + hours(24)) == timedelta(0)
    assert calendar.between(first_of_march, first_of_march + hours(24)) == hours(9)


def test_holiday_does_not_close_previous_night() -> None:
    calendar = BusinessCalendar.from_mapping(
        {
            "timezone": "UTC",
            "hours": {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed")},
            "holidays": ["2016-02-02"],
        }
    )

    assert calendar.working_ranges(at("2016-02-01T00:00:00Z"), at("2016-02-04T00:00:00Z")) == [
        (at("2016-02-01T00:00:00Z"), at("2016-02-02T00:00:00Z")),
        (at("2016-02-03T00:00:00Z"), at("2016-02-04T00:00:00Z")),
    ]


def test_country_holidays_nigeria() -> None:
    lagos = make_calendar(timezone="Africa/Lagos", holidays=[{"country": "NG"}])

    # Christmas 2024 is a Wednesday and Boxing Day a Thursday, both public holidays.
    christmas_eve = at("2024-12-24T17:00:00+01:00")
    assert lagos.add(christmas_eve, hours(2)) == at("2024-12-27T09:00:00+01:00")

    # National Day, 1 October, is a Tuesday in 2024 and a Wednesday in 2031. The calendar
    # generates the later year only when a call reaches it.
    for day in ("2024-10-01", "2031-10-01"):
        morning = at(f"{day}T08:00:00+01:00")
        assert lagos.between(morning, morning + hours(10)) == timedelta(0), day
        assert not lagos.is_working(at(f"{day}T10:00:00+01:00")), day


def test_country_holidays_follow_holidays_package() -> None:
    lagos = make_calendar(timezone="Africa/Lagos", holidays=[{"country": "NG"}])
    table = holidays.country_holidays("NG", years=2025)
    weekday_holidays = [day for day in table if day.weekday() < 5]
    assert weekday_holidays, "the holidays package lists no weekday holiday for NG in 2025"

    for day in weekday_holidays:
        midnight = datetime(day.year, day.month, day.day, tzinfo=lagos.timezone)
        assert lagos.between(midnight, midnight + hours(24)) == timedelta(0), str(day)


def test_unquoted_yaml_date_holiday() -> None:
    calendar = make_calendar(holidays=[date(2016, 2, 2)])
    tuesday = at("2016-02-02T00:00:00+01:00")

    assert calendar.between(tuesday, tuesday + hours(24)) == timedelta(0)


# Calendars without working time


def test_all_days_holidays_raises_on_add() -> None:
    every_day = [
        {"date": day.isoformat(), "recurring": True}
        for day in (date(2016, 1, 1) + timedelta(days=offset) for offset in range(366))
    ]
    calendar = make_calendar(holidays=every_day)
    start = at("2016-02-01T08:00:00+01:00")

    with pytest.raises(CalendarError, match="within 20 years: the calendar has PT0S of working"):
        calendar.add(start, hours(1))
    with pytest.raises(CalendarError, match=r"before .* within 20 years"):
        calendar.add(start, -hours(1))
    with pytest.raises(CalendarError, match="no working time in the 20 years after"):
        calendar.next_opening(start)
    assert calendar.between(start, start + hours(1000)) == timedelta(0)


def test_duration_beyond_search_limit_raises() -> None:
    calendar = make_calendar(week=[["09:00", "10:00"]])  # five hours a week

    with pytest.raises(CalendarError, match=r"^no instant is PT10000H of working time after"):
        calendar.add(at("2016-02-01T08:00:00+01:00"), hours(10_000))


def test_instant_near_datetime_max_raises() -> None:
    calendar = make_calendar()

    with pytest.raises(CalendarError, match="from 0001-01-02 to 9999-12-30 only"):
        calendar.add(datetime(9999, 12, 31, tzinfo=UTC), hours(1))


# is_working, next_opening, working_ranges


def test_is_working_at_boundaries(office: BusinessCalendar) -> None:
    assert office.is_working(at("2016-02-01T08:00:00+01:00"))
    assert office.is_working(at("2016-02-01T12:59:59.999999+01:00"))
    assert not office.is_working(at("2016-02-01T13:00:00+01:00"))
    assert not office.is_working(at("2016-02-01T18:00:00+01:00"))
    assert not office.is_working(at("2016-02-06T10:00:00+01:00"))


def test_next_opening_of_working_instant(office: BusinessCalendar) -> None:
    instant = at("2016-02-01T10:00:00+01:00")

    assert office.next_opening(instant) == instant


def test_next_opening_after_lunch_and_weekend(office: BusinessCalendar) -> None:
    assert office.next_opening(at("2016-02-01T13:00:00+01:00")) == at("2016-02-01T14:00:00+01:00")
    assert office.next_opening(at("2016-02-05T18:00:00+01:00")) == at("2016-02-08T08:00:00+01:00")


def test_next_opening_beyond_stored_span(office: BusinessCalendar) -> None:
    calendar = make_calendar(holidays=[f"2016-12-{day}" for day in range(19, 32)])

    assert calendar.next_opening(at("2016-12-17T00:00:00+01:00")) == at("2017-01-02T08:00:00+01:00")


def test_working_ranges_clipped(office: BusinessCalendar) -> None:
    ranges = office.working_ranges(at("2016-02-01T10:00:00+01:00"), at("2016-02-02T09:00:00+01:00"))

    assert ranges == [
        (at("2016-02-01T10:00:00+01:00"), at("2016-02-01T13:00:00+01:00")),
        (at("2016-02-01T14:00:00+01:00"), at("2016-02-01T18:00:00+01:00")),
        (at("2016-02-02T08:00:00+01:00"), at("2016-02-02T09:00:00+01:00")),
    ]
    assert all(start.tzinfo is UTC and end.tzinfo is UTC for start, end in ranges)


def test_working_ranges_reversed_is_empty(office: BusinessCalendar) -> None:
    assert office.working_ranges(at("2016-02-02T09:00:00+01:00"), at("2016-02-01T10:00:00Z")) == []


def test_working_ranges_inside_closed_time(office: BusinessCalendar) -> None:
    saturday = at("2016-02-06T10:00:00+01:00")

    assert office.working_ranges(saturday, saturday + hours(5)) == []


def test_durations_from_text(office: BusinessCalendar) -> None:
    monday = at("2016-02-01T08:00:00+01:00")

    assert office.add(monday, parse_duration("PT1H30M")) == at("2016-02-01T09:30:00+01:00")
    assert office.add(monday, parse_duration("90m")) == at("2016-02-01T09:30:00+01:00")
    assert office.add(monday, parse_duration("PT45H")) == at("2016-02-05T18:00:00+01:00")
