"""The one source of the current time.

Every service takes a `Clock` instead of calling `datetime.now()`, so tests and the
replay can move time by hand. All instants are timezone-aware and in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Return the current instant as an aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that moves only when told to; used by tests and by the replay."""

    def __init__(self, start: datetime) -> None:
        self._now = require_aware(start).astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, instant: datetime) -> None:
        self._now = require_aware(instant).astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        self._now += delta


def require_aware(value: datetime) -> datetime:
    """Return `value` unchanged, or raise ValueError if it carries no time zone."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} has no time zone; pass an aware one")
    return value
