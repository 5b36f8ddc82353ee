"""Time Opsdesk's business calendar against the businesstimedelta package.

Run: .venv/bin/python bench/calendar_bench.py [--pairs 10000] [--seed 20240601]

Both libraries get the same calendar: Monday to Friday 09:00-12:00 and 13:00-17:00 in
Europe/Berlin, closed on 1 January, 1 May, 3 October, 25 and 26 December of every year.
Opsdesk reads those holidays as recurring dates; businesstimedelta gets the same dates
listed for 2010-2040, which covers every instant the inputs reach.

Inputs: seeded start instants (whole seconds, 2016-2025, UTC) and durations drawn
log-uniformly from 1 minute to 90 days (PT1M to PT2160H). One in ten starts and one in
ten durations are whole hours, so some results fall exactly on an opening or closing.
`add` adds the duration as working time; `between` measures the working time from the
start to start + duration in wall-clock time.

Where the two definitions agree and where they do not:
- Both end a forward `add` at closing when the duration runs out exactly there (neither
  moves it to the next opening), and both start counting at the next opening when the
  start lies in closed time, so `add` results compare directly.
- businesstimedelta reads wall-clock times with pytz's `localize(is_dst=False)`, which
  puts a repeated time at its second occurrence, while Opsdesk reads the first. The hours
  here stay clear of 02:00-03:00, where Berlin changes its clocks, so this never matters.
- businesstimedelta's `difference` drops microseconds and sorts its two arguments, while
  `between` keeps microseconds and returns zero for a reversed range. The inputs are whole
  seconds with the end after the start, so results compare directly.
- Only positive durations are compared and timed. For negative ones businesstimedelta's
  subtraction stops at `period_end - remaining` once a period covers the rest, the same
  latest-instant rule as Opsdesk's negative `add`.
The script compares every pair and reports how many matched; it lists any mismatch.

The flatness section times Opsdesk alone, on a calendar that has already stored the years
the inputs reach (the first call into a new year generates that year, a one-off cost that
the comparison above includes).
"""

from __future__ import annotations

import argparse
import math
import platform
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from importlib.metadata import version
from time import perf_counter

import businesstimedelta
import pytz  # type: ignore[import-untyped]

from opsdesk.calendars import BusinessCalendar

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOLIDAYS = ((1, 1), (5, 1), (10, 3), (12, 25), (12, 26))
FIRST_START = datetime(2016, 1, 1, tzinfo=UTC)
LAST_START = datetime(2026, 1, 1, tzinfo=UTC)
SHORTEST = timedelta(minutes=1)
LONGEST = timedelta(days=90)


def build_opsdesk_calendar() -> BusinessCalendar:
    return BusinessCalendar.from_mapping(
        {
            "timezone": "Europe/Berlin",
            "hours": {day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in WEEKDAYS},
            "holidays": [
                {"date": date(2016, month, day).isoformat(), "recurring": True}
                for month, day in HOLIDAYS
            ],
        }
    )


def build_businesstimedelta_rules() -> businesstimedelta.Rules:
    zone = pytz.timezone("Europe/Berlin")
    weekdays = [0, 1, 2, 3, 4]
    holiday_dates = {
        date(year, month, day) for year in range(2010, 2041) for month, day in HOLIDAYS
    }
    return businesstimedelta.Rules(
        [
            businesstimedelta.WorkDayRule(
                start_time=time(9),
                end_time=time(17),
                working_days=weekdays,
                tz=zone,
            ),
            businesstimedelta.LunchTimeRule(
                start_time=time(12),
                end_time=time(13),
                working_days=weekdays,
                tz=zone,
            ),
            businesstimedelta.HolidayRule(holiday_dates, tz=zone),
        ]
    )


def draw_starts(rng: random.Random, count: int) -> list[datetime]:
    """Draw whole-second starts. One in ten is a whole hour, such as an opening or closing."""
    span = int((LAST_START - FIRST_START).total_seconds())
    starts = []
    for _ in range(count):
        start = FIRST_START + timedelta(seconds=rng.randrange(span))
        if rng.random() < 0.1:
            start = start.replace(minute=0, second=0)
        starts.append(start)
    return starts


def draw_durations(
    rng: random.Random, count: int, shortest: timedelta, longest: timedelta
) -> list[timedelta]:
    """Draw whole-second durations log-uniformly from [shortest, longest].

    One in ten is rounded to whole hours (when that keeps it in range), so that with the
    whole-hour starts some results land exactly on a closing.
    """
    low = math.log(shortest.total_seconds())
    high = math.log(longest.total_seconds())
    durations = []
    for _ in range(count):
        seconds = round(math.exp(rng.uniform(low, high)))
        rounded = round(seconds / 3600) * 3600
        if rng.random() < 0.1 and shortest.total_seconds() <= rounded <= longest.total_seconds():
            seconds = rounded
        durations.append(timedelta(seconds=seconds))
    return durations


def timed(function: Callable[[], list[object]]) -> tuple[list[object], float]:
    began = perf_counter()
    results = function()
    return results, perf_counter() - began


def compare(name: str, ours: list[object], theirs: list[object], inputs: list[object]) -> None:
    mismatches = [
        (call_input, mine, other)
        for call_input, mine, other in zip(inputs, ours, theirs, strict=True)
        if mine != other
    ]
    print(f"  {name}: {len(ours) - len(mismatches)} of {len(ours)} results match")
    for call_input, mine, other in mismatches[:5]:
        print(f"    differs for {call_input}: opsdesk {mine}, businesstimedelta {other}")


def seconds_for(
    function: Callable[[datetime, timedelta], object], pairs: list[tuple[datetime, timedelta]]
) -> float:
    """Return the seconds that calling `function` on each pair takes."""
    began = perf_counter()
    for start, duration in pairs:
        function(start, duration)
    return perf_counter() - began


def calls_per_second(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def run_comparison(starts: list[datetime], durations: list[timedelta]) -> None:
    calendar = build_opsdesk_calendar()
    rules = build_businesstimedelta_rules()
    ends = [start + duration for start, duration in zip(starts, durations, strict=True)]
    count = len(starts)

    def opsdesk_add() -> list[object]:
        return [calendar.add(s, d) for s, d in zip(starts, durations, strict=True)]

    def theirs_add() -> list[object]:
        return [
            s + businesstimedelta.BusinessTimeDelta(rules, timedelta=d)
            for s, d in zip(starts, durations, strict=True)
        ]

    def opsdesk_between() -> list[object]:
        return [calendar.between(s, e) for s, e in zip(starts, ends, strict=True)]

    def theirs_between() -> list[object]:
        return [rules.difference(s, e).timedelta for s, e in zip(starts, ends, strict=True)]

    print(f"Comparison on {count} seeded pairs (durations PT1M to PT2160H, log-uniform)")
    rows = []
    for operation, ours_function, theirs_function, inputs in (
        ("add", opsdesk_add, theirs_add, list(zip(starts, durations, strict=True))),
        ("between", opsdesk_between, theirs_between, list(zip(starts, ends, strict=True))),
    ):
        ours, ours_seconds = timed(ours_function)
        theirs, theirs_seconds = timed(theirs_function)
        compare(operation, ours, theirs, list(inputs))
        rows.append((operation, ours_seconds, theirs_seconds))

    print()
    header = f"{'operation':<10}{'opsdesk calls/s':>18}{'businesstimedelta calls/s':>28}"
    print(f"  {header}{'ratio':>10}")
    for operation, ours_seconds, theirs_seconds in rows:
        ours_rate = calls_per_second(count, ours_seconds)
        theirs_rate = calls_per_second(count, theirs_seconds)
        print(
            f"  {operation:<10}{ours_rate:>18,.0f}{theirs_rate:>28,.0f}"
            f"{ours_rate / theirs_rate:>9,.0f}x"
        )


def run_flatness(rng: random.Random, count: int) -> None:
    calendar = build_opsdesk_calendar()
    starts = draw_starts(rng, count)
    buckets = {
        "short (PT1M-PT1H)": draw_durations(rng, count, SHORTEST, timedelta(hours=1)),
        "medium (PT24H)": [timedelta(days=1)] * count,
        "long (PT720H-PT2160H)": draw_durations(rng, count, timedelta(days=30), timedelta(days=90)),
    }
    # Store every year the inputs reach, so the timings below are steady-state calls.
    calendar.add(FIRST_START, -LONGEST)
    calendar.add(LAST_START, LONGEST)

    print()
    print(f"Opsdesk flatness: {count} calls per bucket on a warm calendar")
    print(f"  {'durations':<24}{'add calls/s':>14}{'between calls/s':>18}")
    for label, durations in buckets.items():
        pairs = list(zip(starts, durations, strict=True))
        add_seconds = seconds_for(calendar.add, pairs)
        between_seconds = seconds_for(lambda s, d: calendar.between(s, s + d), pairs)
        print(
            f"  {label:<24}{calls_per_second(count, add_seconds):>14,.0f}"
            f"{calls_per_second(count, between_seconds):>18,.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=10_000, help="start/duration pairs")
    parser.add_argument("--seed", type=int, default=20240601, help="seed of the inputs")
    arguments = parser.parse_args()

    print(
        f"Python {platform.python_version()}, businesstimedelta "
        f"{version('businesstimedelta')}, seed {arguments.seed}"
    )
    rng = random.Random(arguments.seed)
    starts = draw_starts(rng, arguments.pairs)
    durations = draw_durations(rng, arguments.pairs, SHORTEST, LONGEST)
    run_comparison(starts, durations)
    run_flatness(rng, arguments.pairs)


if __name__ == "__main__":
    main()
