"""Validation of the calendar mapping: what is accepted, and the message of each error."""

from __future__ import annotations

import copy
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from opsdesk.calendars import BusinessCalendar, CalendarError

WEEKDAY_HOURS = [["08:00", "13:00"], ["14:00", "18:00"]]


def valid_mapping() -> dict[str, Any]:
    return {
        "timezone": "Europe/Berlin",
        "hours": {
            "mon": WEEKDAY_HOURS,
            "tue": WEEKDAY_HOURS,
            "wed": WEEKDAY_HOURS,
            "thu": WEEKDAY_HOURS,
            "fri": WEEKDAY_HOURS,
            "sat": [],
        },
        "holidays": [
            "2016-05-01",
            {"date": "2015-12-25", "recurring": True},
            {"date": "2016-01-01"},
            {"country": "NG"},
        ],
    }


def error_for(change: dict[str, Any]) -> str:
    """Return the CalendarError message for a valid mapping with `change` applied."""
    mapping = copy.deepcopy(valid_mapping())
    for path, value in change.items():
        target: Any = mapping
        keys = path.split("/")
        for key in keys[:-1]:
            target = target[int(key)] if isinstance(target, list) else target[key]
        last = keys[-1]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value
    with pytest.raises(CalendarError) as caught:
        BusinessCalendar.from_mapping(mapping)
    return str(caught.value)


def test_valid_mapping_builds_calendar() -> None:
    calendar = BusinessCalendar.from_mapping(valid_mapping())

    assert calendar.timezone == ZoneInfo("Europe/Berlin")


def test_calendar_error_is_value_error() -> None:
    assert issubclass(CalendarError, ValueError)


def test_error_carries_key_path() -> None:
    mapping = valid_mapping()
    mapping["timezone"] = "Europe/Berln"

    with pytest.raises(CalendarError) as caught:
        BusinessCalendar.from_mapping(mapping)

    assert caught.value.path == "timezone"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"timezone": "Europe/Berln"},
            'timezone: unknown time zone "Europe/Berln"; expected an IANA name such as '
            "Europe/Berlin",
        ),
        (
            {"timezone": "Europe"},
            'timezone: unknown time zone "Europe"; expected an IANA name such as Europe/Berlin',
        ),
        (
            {"timezone": "../etc/passwd"},
            'timezone: unknown time zone "../etc/passwd"; expected an IANA name such as '
            "Europe/Berlin",
        ),
        (
            {"timezone": 1},
            "timezone: expected an IANA time zone name such as Europe/Berlin, got 1",
        ),
        (
            {"hours/mon": [["08:00", "13:00"], ["12:00", "18:00"]]},
            'hours.mon[1]: start "12:00" is before the end "13:00" of the previous range; '
            "ranges must ascend without overlapping",
        ),
        (
            {"hours/tue": [["14:00", "18:00"], ["08:00", "13:00"]]},
            'hours.tue[1]: start "08:00" is before the end "18:00" of the previous range; '
            "ranges must ascend without overlapping",
        ),
        (
            {"hours/wed": [["18:00", "08:00"]]},
            'hours.wed[0]: start "18:00" is not before end "08:00"; a range ends later on '
            'the same day, at "24:00" at the latest',
        ),
        (
            {"hours/wed": [["08:00", "08:00"]]},
            'hours.wed[0]: start "08:00" is not before end "08:00"; a range ends later on '
            'the same day, at "24:00" at the latest',
        ),
        (
            {"hours/thu": [["08:00", "25:00"]]},
            'hours.thu[0][1]: invalid time "25:00", expected "HH:MM" from "00:00" to "24:00"',
        ),
        (
            {"hours/thu": [["08:60", "12:00"]]},
            'hours.thu[0][0]: invalid time "08:60", expected "HH:MM" from "00:00" to "24:00"',
        ),
        (
            {"hours/thu": [["8:00", "12:00"]]},
            'hours.thu[0][0]: invalid time "8:00", expected "HH:MM"',
        ),
        (
            {"hours/thu": [["24:00", "24:00"]]},
            'hours.thu[0][0]: "24:00" can only end a range, not start one',
        ),
        (
            {"hours/fri": [["08:00", 1080]]},
            'hours.fri[0][1]: expected a quoted "HH:MM" string, got the number 1080; '
            'quote the time, as in "18:00"',
        ),
        (
            {"hours/fri": [["08:00"]]},
            "hours.fri[0]: expected a [start, end] pair of \"HH:MM\" strings, got ['08:00']",
        ),
        (
            {"hours/fri": "08:00-18:00"},
            "hours.fri: expected a list of [start, end] pairs (write [] for a closed day), "
            'got "08:00-18:00"',
        ),
        (
            {"hours/sat": None},
            "hours.sat: expected a list of [start, end] pairs (write [] for a closed day), "
            "got None",
        ),
        (
            {"hours/monday": []},
            "hours.monday: unknown weekday; expected one of mon, tue, wed, thu, fri, sat, sun",
        ),
        (
            {"hours": {"mon": [], "sun": []}},
            "hours: no working hours in the whole week; give at least one [start, end] pair",
        ),
        (
            {"holidays/0": "2016-13-01"},
            'holidays[0]: invalid date "2016-13-01", expected YYYY-MM-DD',
        ),
        (
            {"holidays/0": "20160501"},
            'holidays[0]: invalid date "20160501", expected YYYY-MM-DD',
        ),
        (
            {"holidays/2/date": "2016-02-30"},
            'holidays[2].date: invalid date "2016-02-30", expected YYYY-MM-DD',
        ),
        (
            {"holidays/1/recurring": "yes"},
            'holidays[1].recurring: expected true or false, got "yes"',
        ),
        (
            {"holidays/1/name": "Christmas"},
            "holidays[1].name: unknown key; a holiday entry has either date and recurring, "
            "or country and subdivision",
        ),
        (
            {"holidays/2": {"recurring": True}},
            "holidays[2]: missing key 'date' (or 'country' for a country's public holidays)",
        ),
        (
            {"holidays/3/country": "XX"},
            'holidays[3].country: unknown country code "XX"; expected an ISO 3166-1 alpha-2 '
            "code that the holidays package supports, such as NG or DE",
        ),
        (
            {"holidays/3/country": "ng"},
            'holidays[3].country: unknown country code "ng"; country codes are upper case, '
            "as in 'NG'; expected an ISO 3166-1 alpha-2 code that the holidays package "
            "supports, such as NG or DE",
        ),
        (
            {"holidays/3/subdivision": "LA"},
            'holidays[3].subdivision: unknown subdivision "LA" of country NG; '
            "known subdivisions: none",
        ),
        (
            {"holidays/3/date": "2016-01-01"},
            "holidays[3].date: unknown key; a country entry has only country and subdivision",
        ),
        (
            {"holidays": "2016-05-01"},
            "holidays: expected a list of dates, {date, recurring} or {country, subdivision} "
            'entries, got "2016-05-01"',
        ),
        (
            {"workdays": ["mon"]},
            "workdays: unknown key; expected timezone, hours or holidays",
        ),
    ],
)
def test_invalid_mapping_message(change: dict[str, Any], message: str) -> None:
    assert error_for(change) == message


def test_missing_timezone_message() -> None:
    mapping = valid_mapping()
    del mapping["timezone"]

    with pytest.raises(CalendarError, match=r"^timezone: missing required key$"):
        BusinessCalendar.from_mapping(mapping)


def test_missing_hours_message() -> None:
    mapping = valid_mapping()
    del mapping["hours"]

    with pytest.raises(CalendarError, match=r"^hours: missing required key$"):
        BusinessCalendar.from_mapping(mapping)


def test_mapping_not_a_mapping() -> None:
    with pytest.raises(CalendarError, match=r"^expected a mapping .* got \['Europe/Berlin'\]$"):
        BusinessCalendar.from_mapping(["Europe/Berlin"])  # type: ignore[arg-type]


def test_holidays_may_be_absent_or_null() -> None:
    mapping = valid_mapping()
    del mapping["holidays"]
    BusinessCalendar.from_mapping(mapping)

    mapping["holidays"] = None
    BusinessCalendar.from_mapping(mapping)


def test_touching_ranges_are_accepted() -> None:
    mapping = valid_mapping()
    mapping["hours"]["mon"] = [["08:00", "12:00"], ["12:00", "18:00"]]

    BusinessCalendar.from_mapping(mapping)


def test_known_subdivision_is_accepted() -> None:
    mapping = valid_mapping()
    mapping["holidays"] = [{"country": "DE", "subdivision": "BY"}]

    BusinessCalendar.from_mapping(mapping)


def test_unknown_subdivision_lists_known_ones() -> None:
    mapping = valid_mapping()
    mapping["holidays"] = [{"country": "DE", "subdivision": "XX"}]

    with pytest.raises(CalendarError) as caught:
        BusinessCalendar.from_mapping(mapping)

    assert str(caught.value).startswith(
        'holidays[0].subdivision: unknown subdivision "XX" of country DE; '
        "known subdivisions: BB, BE, BW, BY"
    )


def test_date_objects_accepted_for_holidays() -> None:
    mapping = valid_mapping()
    mapping["holidays"] = [date(2016, 5, 2), {"date": date(2015, 12, 25), "recurring": True}]

    calendar = BusinessCalendar.from_mapping(mapping)

    assert (
        calendar.between(
            datetime.fromisoformat("2016-05-02T00:00:00+02:00"),
            datetime.fromisoformat("2016-05-03T00:00:00+02:00"),
        ).total_seconds()
        == 0
    )


def test_datetime_rejected_as_holiday() -> None:
    mapping = valid_mapping()
    mapping["holidays"] = [datetime(2016, 5, 2, 12, 0)]

    with pytest.raises(CalendarError, match=r"^holidays\[0\]: invalid date datetime\.datetime"):
        BusinessCalendar.from_mapping(mapping)
