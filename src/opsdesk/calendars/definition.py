"""Validation of the calendar mapping into a `CalendarDefinition`.

The mapping is the one the workspace file and the scenario files use::

    timezone: Europe/Berlin
    hours: {mon: [["08:00", "13:00"], ["14:00", "18:00"]], sat: []}
    holidays: ["2016-05-01", {date: "2015-12-25", recurring: true}, {country: NG}]

Every error is a `CalendarError` whose message starts with the key path of the bad value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TypeGuard
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MINUTES_PER_DAY = 24 * 60

_TOP_LEVEL_KEYS = ("timezone", "hours", "holidays")
_TIME_PATTERN = re.compile(r"(\d{2}):(\d{2})")
_DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")


class CalendarError(ValueError):
    """An invalid calendar definition, or a calculation the calendar cannot finish.

    `path` is the key path inside the mapping (such as ``hours.mon[1]``) when the error is
    about one value of it, else None.
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(f"{path}: {message}" if path else message)
        self.path = path


# A range of one weekday as minutes after local midnight; the end may be 1440 ("24:00").
MinuteRange = tuple[int, int]


@dataclass(frozen=True, eq=False)
class CalendarDefinition:
    """A validated calendar mapping.

    `weekly_hours[0]` contains Monday's ranges, `weekly_hours[6]` Sunday's. The country
    holiday tables fill in a year the first time a date of that year is looked up.
    """

    timezone: ZoneInfo
    weekly_hours: tuple[tuple[MinuteRange, ...], ...]
    holiday_dates: frozenset[date]
    recurring_holidays: frozenset[tuple[int, int]]
    country_holidays: tuple[holidays.HolidayBase, ...]

    def is_holiday(self, day: date) -> bool:
        if day in self.holiday_dates or (day.month, day.day) in self.recurring_holidays:
            return True
        return any(day in table for table in self.country_holidays)


def parse_calendar(mapping: object) -> CalendarDefinition:
    """Validate a calendar mapping and return its definition, or raise CalendarError."""
    if not isinstance(mapping, Mapping):
        raise CalendarError(
            f"expected a mapping with the keys timezone, hours and holidays, got {_show(mapping)}"
        )
    for key in mapping:
        if key not in _TOP_LEVEL_KEYS:
            raise CalendarError(
                "unknown key; expected timezone, hours or holidays", path=_show_key(key)
            )
    for key in ("timezone", "hours"):
        if key not in mapping:
            raise CalendarError("missing required key", path=key)

    timezone = _parse_timezone(mapping["timezone"])
    weekly_hours = _parse_hours(mapping["hours"])
    holiday_tables = _HolidayTables()
    holiday_tables.parse(mapping.get("holidays"))
    return CalendarDefinition(
        timezone=timezone,
        weekly_hours=weekly_hours,
        holiday_dates=frozenset(holiday_tables.dates),
        recurring_holidays=frozenset(holiday_tables.recurring),
        country_holidays=tuple(holiday_tables.countries),
    )


def _parse_timezone(value: object) -> ZoneInfo:
    if not isinstance(value, str) or not value:
        raise CalendarError(
            f"expected an IANA time zone name such as Europe/Berlin, got {_show(value)}",
            path="timezone",
        )
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError covers names of tz database folders such as "Europe".
        raise CalendarError(
            f"unknown time zone {_show(value)}; expected an IANA name such as Europe/Berlin",
            path="timezone",
        ) from None


def _parse_hours(value: object) -> tuple[tuple[MinuteRange, ...], ...]:
    if not isinstance(value, Mapping):
        raise CalendarError(
            f"expected a mapping from weekday (mon … sun) to [start, end] pairs, "
            f"got {_show(value)}",
            path="hours",
        )
    for key in value:
        if key not in WEEKDAYS:
            raise CalendarError(
                "unknown weekday; expected one of " + ", ".join(WEEKDAYS),
                path=f"hours.{_show_key(key)}",
            )

    week = tuple(_parse_day(value.get(name, []), f"hours.{name}") for name in WEEKDAYS)
    if not any(week):
        raise CalendarError(
            "no working hours in the whole week; give at least one [start, end] pair",
            path="hours",
        )
    return week


def _parse_day(value: object, path: str) -> tuple[MinuteRange, ...]:
    if not _is_list(value):
        raise CalendarError(
            f"expected a list of [start, end] pairs (write [] for a closed day), "
            f"got {_show(value)}",
            path=path,
        )
    ranges: list[MinuteRange] = []
    previous_end_text: object = None
    for index, pair in enumerate(value):
        pair_path = f"{path}[{index}]"
        if not _is_list(pair) or len(pair) != 2:
            raise CalendarError(
                f'expected a [start, end] pair of "HH:MM" strings, got {_show(pair)}',
                path=pair_path,
            )
        start_text, end_text = pair
        start = _parse_time(start_text, f"{pair_path}[0]", allow_midnight_end=False)
        end = _parse_time(end_text, f"{pair_path}[1]", allow_midnight_end=True)
        if start >= end:
            raise CalendarError(
                f"start {_show(start_text)} is not before end {_show(end_text)}; "
                'a range ends later on the same day, at "24:00" at the latest',
                path=pair_path,
            )
        if ranges and start < ranges[-1][1]:
            raise CalendarError(
                f"start {_show(start_text)} is before the end {_show(previous_end_text)} of the "
                "previous range; ranges must ascend without overlapping",
                path=pair_path,
            )
        ranges.append((start, end))
        previous_end_text = end_text
    return tuple(ranges)


def _parse_time(value: object, path: str, *, allow_midnight_end: bool) -> int:
    """Return minutes after local midnight for an "HH:MM" string."""
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 18:00 as the base-60 number 1080.
        raise CalendarError(
            f'expected a quoted "HH:MM" string, got the number {value}; '
            'quote the time, as in "18:00"',
            path=path,
        )
    match = _TIME_PATTERN.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise CalendarError(f'invalid time {_show(value)}, expected "HH:MM"', path=path)

    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24 and minute == 0:
        if allow_midnight_end:
            return MINUTES_PER_DAY
        raise CalendarError('"24:00" can only end a range, not start one', path=path)
    if hour > 23 or minute > 59:
        raise CalendarError(
            f'invalid time {_show(value)}, expected "HH:MM" from "00:00" to "24:00"',
            path=path,
        )
    return hour * 60 + minute


class _HolidayTables:
    """Collects the three kinds of holiday entries while validating them."""

    def __init__(self) -> None:
        self.dates: set[date] = set()
        self.recurring: set[tuple[int, int]] = set()
        self.countries: list[holidays.HolidayBase] = []

    def parse(self, value: object) -> None:
        if value is None:
            return
        if not _is_list(value):
            raise CalendarError(
                f"expected a list of dates, {{date, recurring}} or {{country, subdivision}} "
                f"entries, got {_show(value)}",
                path="holidays",
            )
        for index, entry in enumerate(value):
            self._parse_entry(entry, f"holidays[{index}]")

    def _parse_entry(self, entry: object, path: str) -> None:
        if not isinstance(entry, Mapping):
            self.dates.add(_parse_date(entry, path))
            return

        if "country" in entry:
            self._parse_country(entry, path)
            return
        for key in entry:
            if key not in ("date", "recurring"):
                raise CalendarError(
                    "unknown key; a holiday entry has either date and recurring, "
                    "or country and subdivision",
                    path=f"{path}.{_show_key(key)}",
                )
        if "date" not in entry:
            raise CalendarError(
                "missing key 'date' (or 'country' for a country's public holidays)", path=path
            )

        day = _parse_date(entry["date"], f"{path}.date")
        recurring = entry.get("recurring", False)
        if recurring is None:
            recurring = False
        if not isinstance(recurring, bool):
            raise CalendarError(
                f"expected true or false, got {_show(recurring)}", path=f"{path}.recurring"
            )
        if recurring:
            self.recurring.add((day.month, day.day))
        else:
            self.dates.add(day)

    def _parse_country(self, entry: Mapping[object, object], path: str) -> None:
        for key in entry:
            if key not in ("country", "subdivision"):
                raise CalendarError(
                    "unknown key; a country entry has only country and subdivision",
                    path=f"{path}.{_show_key(key)}",
                )

        supported = holidays.list_supported_countries()
        country = entry["country"]
        if not isinstance(country, str) or country not in supported:
            hint = ""
            if isinstance(country, str) and country.upper() in supported:
                hint = f"; country codes are upper case, as in {country.upper()!r}"
            raise CalendarError(
                f"unknown country code {_show(country)}{hint}; expected an ISO 3166-1 "
                "alpha-2 code that the holidays package supports, such as NG or DE",
                path=f"{path}.country",
            )

        subdivision = entry.get("subdivision")
        if subdivision is not None and (
            not isinstance(subdivision, str) or subdivision not in supported[country]
        ):
            known = ", ".join(supported[country]) or "none"
            raise CalendarError(
                f"unknown subdivision {_show(subdivision)} of country {country}; "
                f"known subdivisions: {known}",
                path=f"{path}.subdivision",
            )
        # No years are given, so the table fills in each year on its first lookup.
        self.countries.append(holidays.country_holidays(country, subdiv=subdivision))


def _parse_date(value: object, path: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        # PyYAML turns an unquoted 2016-05-01 into a date.
        return value
    if isinstance(value, str) and _DATE_PATTERN.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise CalendarError(f"invalid date {_show(value)}, expected YYYY-MM-DD", path=path)


def _is_list(value: object) -> TypeGuard[list[object] | tuple[object, ...]]:
    return isinstance(value, list | tuple)


def _show(value: object) -> str:
    """Quote strings with double quotes as the mapping's YAML would, repr the rest."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return repr(value)


def _show_key(key: object) -> str:
    return key if isinstance(key, str) else repr(key)
