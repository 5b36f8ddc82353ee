"""Parsing and formatting of SLA durations, which are always working time.

Accepted forms, each with an optional leading "-":

- ISO 8601 time durations: ``PT4H``, ``PT1H30M``, ``PT45S``, ``PT0.25S`` (only the seconds
  may have a fraction, of up to six digits).
- Compact forms in lower case without spaces: ``4h``, ``90m``, ``45s``, ``1h30m``.

Day, week, month and year parts are rejected: a working day has no fixed length, so the
caller writes the hours it means.
"""

from __future__ import annotations

import re
from datetime import timedelta

_ISO_PATTERN = re.compile(
    r"(?P<sign>-)?PT(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?"
    r"(?:(?P<seconds>\d+)(?:\.(?P<fraction>\d{1,6}))?S)?",
    re.ASCII,
)
_ISO_WITH_DATE_PATTERN = re.compile(
    r"-?P(?P<date>(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?)(?:T(?:\d+H)?(?:\d+M)?(?:\d+(?:\.\d+)?S)?)?",
    re.ASCII,
)
_COMPACT_PATTERN = re.compile(
    r"(?P<sign>-)?(?:(?P<hours>\d+)h)?(?:(?P<minutes>\d+)m)?(?:(?P<seconds>\d+)s)?",
    re.ASCII,
)

_EXPECTED = "expected ISO 8601 like PT4H or PT1H30M, or a compact form like 4h, 90m, 1h30m"
_MICROSECONDS_PER_HOUR = 3_600_000_000
_MICROSECONDS_PER_MINUTE = 60_000_000
_MICROSECONDS_PER_SECOND = 1_000_000


class DurationError(ValueError):
    """A duration string that `parse_duration` cannot read."""


def parse_duration(text: str) -> timedelta:
    """Parse an ISO 8601 or compact duration into a timedelta, or raise DurationError."""
    if not isinstance(text, str):
        raise DurationError(f"invalid duration {text!r}: expected a string such as PT4H or 4h")

    match = _ISO_PATTERN.fullmatch(text) or _COMPACT_PATTERN.fullmatch(text)
    if match is None or not any(match.group(part) for part in ("hours", "minutes", "seconds")):
        date_match = _ISO_WITH_DATE_PATTERN.fullmatch(text)
        if date_match is not None and date_match.group("date"):
            raise DurationError(
                f'invalid duration "{text}": day, week, month and year parts are not allowed '
                "because SLA durations are working time; write hours instead, such as PT24H "
                "or PT8H"
            )
        raise DurationError(f'invalid duration "{text}": {_EXPECTED}')

    groups = match.groupdict()
    fraction = groups.get("fraction") or ""
    microseconds = (
        int(groups["hours"] or 0) * _MICROSECONDS_PER_HOUR
        + int(groups["minutes"] or 0) * _MICROSECONDS_PER_MINUTE
        + int(groups["seconds"] or 0) * _MICROSECONDS_PER_SECOND
        + int(fraction.ljust(6, "0"))
    )
    if groups["sign"]:
        microseconds = -microseconds
    try:
        return timedelta(microseconds=microseconds)
    except OverflowError:
        raise DurationError(
            f'invalid duration "{text}": longer than the largest timedelta '
            f"({timedelta.max.days} days)"
        ) from None


def format_duration(duration: timedelta) -> str:
    """Format a timedelta as canonical ISO 8601 hours, minutes and seconds: PT1H30M, -PT5H.

    Zero is ``PT0S``. Parts that are zero are left out, and seconds carry a fraction only
    when the duration has microseconds.
    """
    total = duration // timedelta(microseconds=1)
    sign = "-" if total < 0 else ""
    hours, rest = divmod(abs(total), _MICROSECONDS_PER_HOUR)
    minutes, rest = divmod(rest, _MICROSECONDS_PER_MINUTE)
    seconds, microseconds = divmod(rest, _MICROSECONDS_PER_SECOND)

    parts = []
    if hours:
        parts.append(f"{hours}H")
    if minutes:
        parts.append(f"{minutes}M")
    if microseconds:
        parts.append(f"{seconds}.{microseconds:06d}".rstrip("0") + "S")
    elif seconds:
        parts.append(f"{seconds}S")
    if not parts:
        return "PT0S"
    return sign + "PT" + "".join(parts)
