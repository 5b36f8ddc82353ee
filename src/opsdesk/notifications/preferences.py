"""Channel preferences per event type, and the quiet hours of each person.

A user without preference rows gets DEFAULT_CHANNELS. Once they save preferences, their
rows are exactly what they get: an event type with no row sends nothing on any channel,
so leaving out "inbox" turns the inbox off. A row with the event type "*" applies to
every event type.

Quiet hours are a daily window in the user's own time zone, given as "HH:MM" local start
and end. A window whose end is earlier than its start crosses midnight ("22:00" to
"07:00").
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.errors import InvalidInput
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.notifications.models import NotificationPreference
from opsdesk.users.models import User

logger = logging.getLogger(__name__)

INBOX = "inbox"
EMAIL = "email"
SLACK = "slack"
TEAMS = "teams"
CHANNELS: tuple[str, ...] = (INBOX, EMAIL, SLACK, TEAMS)
ALL_EVENTS = "*"

DEFAULT_CHANNELS: dict[str, tuple[str, ...]] = {
    ALL_EVENTS: (INBOX,),
    "escalation.triggered": (EMAIL,),
    "sla.breached": (EMAIL,),
}
"""Channels of a user who saved no preferences: the inbox for everything, and e-mail for
escalations and SLA breaches."""

_CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")


ChannelMatrix = dict[str, list[str]]
"""Event type (or "*") to the channels chosen for it."""


def channels_for(matrix: Mapping[str, Iterable[str]], event_type: str) -> set[str]:
    """Return the channels that `matrix` selects for `event_type`, "*" rows included."""
    chosen: set[str] = set()
    for key in (ALL_EVENTS, event_type):
        chosen.update(matrix.get(key, ()))
    return chosen


def default_matrix() -> ChannelMatrix:
    return {event_type: list(channels) for event_type, channels in DEFAULT_CHANNELS.items()}


async def matrices_of(session: AsyncSession, user_ids: Iterable[int]) -> dict[int, ChannelMatrix]:
    """Return each user's channel matrix, the defaults for users without preference rows."""
    ids = sorted(set(user_ids))
    if not ids:
        return {}
    saved: dict[int, ChannelMatrix] = {}
    rows = await session.execute(
        select(
            NotificationPreference.user_id,
            NotificationPreference.event_type,
            NotificationPreference.channel,
        )
        .where(NotificationPreference.user_id.in_(ids))
        .order_by(NotificationPreference.id)
    )
    for user_id, event_type, channel in rows:
        saved.setdefault(user_id, {}).setdefault(event_type, []).append(channel)
    return {user_id: saved.get(user_id) or default_matrix() for user_id in ids}


def check_matrix(matrix: Mapping[str, Iterable[str]]) -> ChannelMatrix:
    """Return `matrix` with sorted, unique channels, or raise InvalidInput naming each problem.

    An empty matrix is rejected, because saving no rows would bring the defaults back.
    """
    problems: list[dict[str, str]] = []
    checked: ChannelMatrix = {}
    for event_type, channels in matrix.items():
        field = f"channels.{event_type}"
        if event_type != ALL_EVENTS and event_type not in EVENT_TYPES:
            problems.append({"field": field, "message": f"unknown event type {event_type!r}"})
            continue
        names = list(channels)
        unknown = [name for name in names if name not in CHANNELS]
        for name in unknown:
            problems.append(
                {
                    "field": field,
                    "message": f"unknown channel {name!r}; expected {', '.join(CHANNELS)}",
                }
            )
        if names and not unknown:
            checked[event_type] = sorted(set(names), key=CHANNELS.index)
    if problems:
        raise InvalidInput(
            "invalid notification channels: "
            + "; ".join(f"{item['field']}: {item['message']}" for item in problems)
            + f". Event types are * or one of {', '.join(EVENT_TYPES)}",
            details=problems,
        )
    if not checked:
        raise InvalidInput(
            "choose at least one channel for at least one event type, for example "
            '{"*": ["inbox"]}; send "channels": null to go back to the defaults',
            details=[{"field": "channels", "message": "no channel chosen"}],
        )
    return checked


async def replace_matrix(
    session: AsyncSession, *, user: User, matrix: ChannelMatrix | None, at: datetime
) -> None:
    """Store `matrix` as the user's preference rows; None deletes them, so defaults apply."""
    await session.execute(
        delete(NotificationPreference).where(NotificationPreference.user_id == user.id)
    )
    if matrix is None:
        return
    session.add_all(
        NotificationPreference(
            user_id=user.id, event_type=event_type, channel=channel, created_at=at
        )
        for event_type, channels in matrix.items()
        for channel in channels
    )


# Quiet hours --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_timezone(name: str) -> ZoneInfo:
    """Return the IANA time zone `name`; raise ValueError for anything else."""
    if name not in _known_zones():
        raise ValueError(f"unknown time zone {name!r}; expected an IANA name such as Europe/Berlin")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"unknown time zone {name!r}; expected an IANA name such as Europe/Berlin"
        ) from None


def parse_clock_time(value: str) -> time:
    """Return the local time of "HH:MM" (00:00 to 23:59); raise ValueError for anything else."""
    match = _CLOCK_TIME.fullmatch(value)
    if match is None:
        raise ValueError(f"invalid time {value!r}; expected HH:MM from 00:00 to 23:59")
    return time(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class QuietHours:
    """A daily window in `zone` from `start` until `end` local time (end excluded)."""

    zone: ZoneInfo
    start: time
    end: time

    def until(self, at: datetime) -> datetime | None:
        """Return when the window that contains `at` ends, in UTC, or None outside it."""
        local = at.astimezone(self.zone)
        now = local.time().replace(tzinfo=None)
        if self.start < self.end:
            inside = self.start <= now < self.end
            end_day = local.date()
        elif now >= self.start:
            inside = True
            end_day = local.date() + timedelta(days=1)
        else:
            inside = now < self.end
            end_day = local.date()
        if not inside:
            return None
        # A local end inside the hour skipped when clocks go forward is read with the
        # offset before the change, so 02:30 in Berlin ends the window at 03:30.
        end = datetime.combine(end_day, self.end, tzinfo=self.zone)
        return end.astimezone(UTC)


def quiet_hours_of(user: User) -> QuietHours | None:
    """Return the user's quiet hours, or None when they set none.

    Values are checked when saved. A stored value that no longer parses (a time zone
    removed from the tz database) turns quiet hours off, so it cannot block delivery.
    """
    if not (user.quiet_hours_start and user.quiet_hours_end and user.timezone):
        return None
    try:
        return QuietHours(
            zone=parse_timezone(user.timezone),
            start=parse_clock_time(user.quiet_hours_start),
            end=parse_clock_time(user.quiet_hours_end),
        )
    except ValueError as exc:
        logger.warning("quiet hours of user %s ignored: %s", user.id, exc)
        return None
