"""Working time of a business calendar: sums over a range and instants a duration away.

Working time is the union of ranges of instants. Each local date that is not a holiday
contributes the ranges of its weekday, read as wall-clock times in the calendar's zone on
that date ("24:00" is 00:00 of the next date). A wall-clock time is read with ``fold=0``:
zoneinfo then applies the offset in force before the transition, both for a time skipped
by a forward change and for a time that occurs twice (its first occurrence).

Instants are integer microseconds since the Unix epoch everywhere inside, so sums are exact
and ``between(s, add(s, d)) == d`` is exact to the microsecond. The calendar stores its
working ranges in UTC, merged and sorted, with the working time before each range. Every
call is then a binary search whose cost does not depend on the duration. The stored ranges
cover whole local years and grow a year at a time in either direction when a call reaches
past them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from opsdesk.calendars.definition import (
    MINUTES_PER_DAY,
    CalendarDefinition,
    CalendarError,
    parse_calendar,
)
from opsdesk.calendars.durations import format_duration
from opsdesk.clock import require_aware

# How far `add` and `next_opening` look for working time before they give up.
SEARCH_LIMIT_YEARS = 20
# The maximum number of years the stored span covers. `between` and `working_ranges` reject a
# range that covers more once rounded out to whole years.
SPAN_LIMIT_YEARS = 100

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = _EPOCH.date().toordinal()
_ONE_MICROSECOND = timedelta(microseconds=1)
_MICROSECONDS_PER_MINUTE = 60_000_000
_MICROSECONDS_PER_DAY = 86_400_000_000
_MICROSECONDS_PER_YEAR = 366 * _MICROSECONDS_PER_DAY
_SEARCH_LIMIT = round(SEARCH_LIMIT_YEARS * 365.25) * _MICROSECONDS_PER_DAY
_SPAN_LIMIT_DAYS = round(SPAN_LIMIT_YEARS * 365.25)
# Python requires a UTC offset to be less than 24 hours in size, so every wall-clock time
# of local date D, including "24:00", is an instant strictly between UTC midnight of D - 1
# and of D + 2. The stored span is therefore exact from two days after its first local date
# to two days before its end.
_EDGE_DAYS = 2


class BusinessCalendar:
    """A weekly schedule with holidays in one time zone.

    Build one with `from_mapping`. Every method takes aware datetimes with any offset,
    compares them as instants, and returns aware UTC datetimes. Naive datetimes raise
    ValueError. No method awaits, so asyncio tasks of one thread can share an instance.
    An instance extends its stored span in place when a call reaches past it.
    """

    __slots__ = (
        "_definition",
        "_end_ordinal",
        "_ends",
        "_first_ordinal",
        "_span_end",
        "_span_start",
        "_starts",
        "_worked_before",
    )

    def __init__(self, definition: CalendarDefinition) -> None:
        self._definition = definition
        # Merged working ranges [starts[i], ends[i]) in ascending order, and the working
        # time of all ranges before range i (one more entry than the ranges).
        self._starts: list[int] = []
        self._ends: list[int] = []
        self._worked_before: list[int] = [0]
        # Local dates [first_ordinal, end_ordinal) are generated, and working time is exact
        # for instants in [span_start, span_end]. An empty span covers no instant.
        self._first_ordinal = 0
        self._end_ordinal = 0
        self._span_start = 1
        self._span_end = 0

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, object]) -> BusinessCalendar:
        """Build a calendar from its mapping, or raise CalendarError naming the bad key."""
        return cls(parse_calendar(mapping))

    @property
    def timezone(self) -> ZoneInfo:
        """The zone in which the weekly hours and holidays are read."""
        return self._definition.timezone

    def __repr__(self) -> str:
        return f"<BusinessCalendar {self._definition.timezone.key}>"

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the instant `duration` of working time after `start`, or before it if negative.

        A positive duration ends at the earliest instant t with that much working time in
        [start, t), so a duration used up exactly at closing ends at closing. A negative one
        ends at the latest t with that much working time in [t, start). Zero returns start.
        """
        start_us = _to_microseconds(start)
        duration_us = duration // _ONE_MICROSECOND
        if duration_us > 0:
            return _from_microseconds(self._add_forward(start_us, duration_us))
        if duration_us < 0:
            return _from_microseconds(self._add_backward(start_us, -duration_us))
        return _from_microseconds(start_us)

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time in [start, end); zero if end is not after start."""
        start_us = _to_microseconds(start)
        end_us = _to_microseconds(end)
        if end_us <= start_us:
            return timedelta(0)
        self._ensure(start_us, end_us)
        worked = self._worked_until(end_us) - self._worked_until(start_us)
        return timedelta(microseconds=worked)

    def is_working(self, instant: datetime) -> bool:
        """Return whether `instant` lies in working time (a range includes its start only)."""
        instant_us = _to_microseconds(instant)
        self._ensure(instant_us, instant_us)
        index = bisect_right(self._starts, instant_us) - 1
        return index >= 0 and instant_us < self._ends[index]

    def next_opening(self, instant: datetime) -> datetime:
        """Return `instant` if it is working time, else the start of the next working range."""
        instant_us = _to_microseconds(instant)
        self._ensure(instant_us, instant_us)
        index = bisect_right(self._starts, instant_us) - 1
        if index >= 0 and instant_us < self._ends[index]:
            return _from_microseconds(instant_us)

        limit = instant_us + _SEARCH_LIMIT
        while True:
            index = bisect_right(self._starts, instant_us)
            if index < len(self._starts) and self._starts[index] <= self._span_end:
                return _from_microseconds(self._starts[index])
            if self._span_end >= limit:
                raise CalendarError(
                    f"the calendar has no working time in the {SEARCH_LIMIT_YEARS} years "
                    f"after {_show_instant(instant_us)}; check that its holidays leave "
                    "working days open"
                )
            self._ensure(instant_us, min(self._span_end + _MICROSECONDS_PER_YEAR, limit))

    def working_ranges(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Return the working ranges clipped to [start, end) as UTC (start, end) pairs."""
        start_us = _to_microseconds(start)
        end_us = _to_microseconds(end)
        if end_us <= start_us:
            return []
        self._ensure(start_us, end_us)

        ranges: list[tuple[datetime, datetime]] = []
        index = max(bisect_right(self._starts, start_us) - 1, 0)
        while index < len(self._starts) and self._starts[index] < end_us:
            range_start = max(self._starts[index], start_us)
            range_end = min(self._ends[index], end_us)
            if range_start < range_end:
                ranges.append((_from_microseconds(range_start), _from_microseconds(range_end)))
            index += 1
        return ranges

    def _add_forward(self, start_us: int, duration_us: int) -> int:
        self._ensure(start_us, start_us)
        limit = start_us + _SEARCH_LIMIT
        while True:
            # Recomputed after every extension, because a rebuilt span has another origin.
            target = self._worked_until(start_us) + duration_us
            if target <= self._worked_until(self._span_end):
                # The first range whose end reaches the target contains the result.
                index = bisect_left(self._worked_before, target) - 1
                return self._starts[index] + target - self._worked_before[index]
            if self._span_end >= limit:
                available = self._worked_until(limit) - self._worked_until(start_us)
                raise CalendarError(
                    f"no instant is {format_duration(timedelta(microseconds=duration_us))} "
                    f"of working time after {_show_instant(start_us)} within "
                    f"{SEARCH_LIMIT_YEARS} years: the calendar has "
                    f"{format_duration(timedelta(microseconds=available))} of working time "
                    "in that span"
                )
            self._ensure(start_us, min(self._span_end + _MICROSECONDS_PER_YEAR, limit))

    def _add_backward(self, start_us: int, duration_us: int) -> int:
        self._ensure(start_us, start_us)
        limit = start_us - _SEARCH_LIMIT
        while True:
            target = self._worked_until(start_us) - duration_us
            if target >= self._worked_until(self._span_start):
                # The last range that starts at or before the target contains the result.
                # A target equal to a range boundary resolves to that range's start.
                index = bisect_right(self._worked_before, target) - 1
                return self._starts[index] + target - self._worked_before[index]
            if self._span_start <= limit:
                available = self._worked_until(start_us) - self._worked_until(limit)
                raise CalendarError(
                    f"no instant is {format_duration(timedelta(microseconds=duration_us))} "
                    f"of working time before {_show_instant(start_us)} within "
                    f"{SEARCH_LIMIT_YEARS} years: the calendar has "
                    f"{format_duration(timedelta(microseconds=available))} of working time "
                    "in that span"
                )
            self._ensure(max(self._span_start - _MICROSECONDS_PER_YEAR, limit), start_us)

    def _worked_until(self, instant_us: int) -> int:
        """Return the working time from the first stored range up to `instant_us`."""
        index = bisect_right(self._starts, instant_us) - 1
        if index < 0:
            return 0
        return self._worked_before[index] + min(instant_us, self._ends[index]) - self._starts[index]

    def _ensure(self, low_us: int, high_us: int) -> None:
        """Extend the stored span so that working time is exact on [low_us, high_us]."""
        if self._span_start <= low_us and high_us <= self._span_end:
            return

        # Whole local years, with the edge days the span needs to be exact.
        low_day = date.fromordinal(
            _checked_ordinal(low_us // _MICROSECONDS_PER_DAY + _EPOCH_ORDINAL - _EDGE_DAYS)
        )
        high_day = date.fromordinal(
            _checked_ordinal(high_us // _MICROSECONDS_PER_DAY + _EPOCH_ORDINAL + _EDGE_DAYS)
        )
        first = date(low_day.year, 1, 1).toordinal()
        end = _checked_ordinal(date(high_day.year, 12, 31).toordinal() + 1)
        if end - first > _SPAN_LIMIT_DAYS:
            raise CalendarError(
                f"{_show_instant(low_us)} and {_show_instant(high_us)} are too far apart: "
                f"the calendar computes working time over at most {SPAN_LIMIT_YEARS} years "
                "at once"
            )

        if self._first_ordinal >= self._end_ordinal:
            self._store(self._generate(first, end), first, end)
            return
        new_first = min(first, self._first_ordinal)
        new_end = max(end, self._end_ordinal)
        if new_end - new_first > _SPAN_LIMIT_DAYS:
            # Far from the stored span: start again around this request.
            self._store(self._generate(first, end), first, end)
            return

        ranges = list(zip(self._starts, self._ends, strict=True))
        ranges += self._generate(new_first, self._first_ordinal)
        ranges += self._generate(self._end_ordinal, new_end)
        self._store(ranges, new_first, new_end)

    def _generate(self, first_ordinal: int, end_ordinal: int) -> list[tuple[int, int]]:
        """Return the working ranges of local dates [first_ordinal, end_ordinal), unmerged."""
        definition = self._definition
        ranges: list[tuple[int, int]] = []
        for ordinal in range(first_ordinal, end_ordinal):
            day = date.fromordinal(ordinal)
            day_ranges = definition.weekly_hours[day.weekday()]
            if not day_ranges or definition.is_holiday(day):
                continue
            for start_minute, end_minute in day_ranges:
                start_us = self._read_wall_clock(ordinal, start_minute)
                end_us = self._read_wall_clock(ordinal, end_minute)
                # A start inside a skipped hour is read with the earlier offset, so it can
                # fall after an end read with the later one. Such a range is empty.
                if start_us < end_us:
                    ranges.append((start_us, end_us))
        return ranges

    def _read_wall_clock(self, ordinal: int, minute: int) -> int:
        """Return the instant of local date `ordinal` at `minute` after midnight (fold=0)."""
        if minute == MINUTES_PER_DAY:
            ordinal += 1
            minute = 0
        day = date.fromordinal(ordinal)
        wall = datetime(
            day.year, day.month, day.day, minute // 60, minute % 60, tzinfo=self.timezone
        )
        offset = wall.utcoffset()
        assert offset is not None  # a ZoneInfo always has an offset
        local_us = (ordinal - _EPOCH_ORDINAL) * _MICROSECONDS_PER_DAY
        return local_us + minute * _MICROSECONDS_PER_MINUTE - offset // _ONE_MICROSECOND

    def _store(self, ranges: list[tuple[int, int]], first_ordinal: int, end_ordinal: int) -> None:
        """Sort and merge `ranges` and make them the stored span."""
        ranges.sort()
        starts: list[int] = []
        ends: list[int] = []
        worked_before = [0]
        for start_us, end_us in ranges:
            if ends and start_us <= ends[-1]:
                if end_us > ends[-1]:
                    worked_before[-1] += end_us - ends[-1]
                    ends[-1] = end_us
                continue
            starts.append(start_us)
            ends.append(end_us)
            worked_before.append(worked_before[-1] + end_us - start_us)

        self._starts = starts
        self._ends = ends
        self._worked_before = worked_before
        self._first_ordinal = first_ordinal
        self._end_ordinal = end_ordinal
        self._span_start = (first_ordinal - _EPOCH_ORDINAL + _EDGE_DAYS) * _MICROSECONDS_PER_DAY
        self._span_end = (end_ordinal - _EPOCH_ORDINAL - _EDGE_DAYS) * _MICROSECONDS_PER_DAY


def _to_microseconds(value: datetime) -> int:
    return (require_aware(value) - _EPOCH) // _ONE_MICROSECOND


def _from_microseconds(value: int) -> datetime:
    return _EPOCH + timedelta(microseconds=value)


def _show_instant(value: int) -> str:
    return _from_microseconds(value).isoformat()


def _checked_ordinal(ordinal: int) -> int:
    # One day of room at each end, because "24:00" reads the next date.
    if not date.min.toordinal() + 1 <= ordinal < date.max.toordinal():
        raise CalendarError(
            "the calendar covers dates from 0001-01-02 to 9999-12-30 only, "
            "and this call reaches past them"
        )
    return ordinal
