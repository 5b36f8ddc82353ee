"""Conversions between aware datetimes and the ISO 8601 text stored in state and output.

Every instant the SLA code keeps is an aware datetime in UTC. Text form is ISO 8601 with
a `Z` suffix, which sorts and compares like the instant itself.
"""

from __future__ import annotations

from datetime import UTC, datetime


def to_utc(instant: datetime) -> datetime:
    """Return `instant` converted to UTC; raise ValueError for a naive datetime."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(
            f"naive datetime {instant.isoformat()} has no time zone; pass an aware one"
        )
    return instant.astimezone(UTC)


def format_instant(instant: datetime) -> str:
    """Format `instant` as ISO 8601 in UTC with a `Z` suffix (microseconds only if non-zero)."""
    return to_utc(instant).isoformat().replace("+00:00", "Z")


def parse_instant(text: str) -> datetime:
    """Parse ISO 8601 text that carries an offset (or `Z`) into an aware UTC datetime.

    This reads stored state, so it accepts anything `datetime.fromisoformat` accepts as
    long as an offset is present. Scenario files use a stricter check of their own.
    """
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"invalid instant {text!r}; expected ISO 8601 with an offset") from None
    if value.tzinfo is None:
        raise ValueError(f"instant {text!r} has no offset; expected Z or ±HH:MM")
    return value.astimezone(UTC)
