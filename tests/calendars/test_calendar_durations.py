"""Parsing and formatting of working-time durations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from opsdesk.calendars import DurationError, format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT4H", timedelta(hours=4)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT45S", timedelta(seconds=45)),
        ("PT45H25M30S", timedelta(hours=45, minutes=25, seconds=30)),
        ("PT90M", timedelta(minutes=90)),
        ("PT0S", timedelta(0)),
        ("PT2160H", timedelta(days=90)),
        ("PT1.5S", timedelta(seconds=1, microseconds=500_000)),
        ("PT0.000001S", timedelta(microseconds=1)),
        ("-PT1H", timedelta(hours=-1)),
        ("-PT1H30M", -timedelta(hours=1, minutes=30)),
        ("4h", timedelta(hours=4)),
        ("90m", timedelta(minutes=90)),
        ("45s", timedelta(seconds=45)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1h30m15s", timedelta(hours=1, minutes=30, seconds=15)),
        ("-2h", timedelta(hours=-2)),
    ],
)
def test_parse_duration_valid(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "4hours",
        "",
        "PT",
        "P",
        "-",
        "pt4h",
        "PT4h",
        "4H",
        "1h 30m",
        " PT4H",
        "PT4H ",
        "30m1h",
        "PT30M1H",
        "PT0.5H",
        "PT1.1234567S",
        "1.5h",
        "+PT4H",
        "--PT4H",
        "PT-4H",
        "PT٤H",  # Arabic-Indic digit four
        "4",
    ],
)
def test_parse_duration_invalid(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)

    assert str(caught.value) == (
        f'invalid duration "{text}": expected ISO 8601 like PT4H or PT1H30M, '
        "or a compact form like 4h, 90m, 1h30m"
    )


@pytest.mark.parametrize("text", ["P1D", "P1DT2H", "-P2W", "P1Y", "P1M", "P1Y2M3DT4H5M6S"])
def test_parse_duration_rejects_calendar_parts(text: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(text)

    assert str(caught.value) == (
        f'invalid duration "{text}": day, week, month and year parts are not allowed because '
        "SLA durations are working time; write hours instead, such as PT24H or PT8H"
    )


def test_parse_duration_rejects_non_string() -> None:
    with pytest.raises(DurationError) as caught:
        parse_duration(3600)  # type: ignore[arg-type]

    assert str(caught.value) == "invalid duration 3600: expected a string such as PT4H or 4h"


def test_parse_duration_too_large() -> None:
    with pytest.raises(DurationError, match="longer than the largest timedelta"):
        parse_duration("PT99999999999999H")


def test_duration_error_is_value_error() -> None:
    assert issubclass(DurationError, ValueError)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (timedelta(0), "PT0S"),
        (timedelta(hours=1, minutes=30), "PT1H30M"),
        (timedelta(hours=-5), "-PT5H"),
        (timedelta(seconds=45), "PT45S"),
        (timedelta(hours=2, seconds=1), "PT2H1S"),
        (timedelta(days=90), "PT2160H"),
        (timedelta(seconds=1, microseconds=500_000), "PT1.5S"),
        (timedelta(microseconds=1), "PT0.000001S"),
        (-timedelta(minutes=1, microseconds=10), "-PT1M0.00001S"),
    ],
)
def test_format_duration(duration: timedelta, expected: str) -> None:
    assert format_duration(duration) == expected


@settings(max_examples=200, deadline=None)
@given(st.timedeltas(min_value=timedelta(days=-10_000), max_value=timedelta(days=10_000)))
def test_format_then_parse_round_trips(duration: timedelta) -> None:
    assert parse_duration(format_duration(duration)) == duration
