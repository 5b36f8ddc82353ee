"""Display rules of SLA clocks in the console: the state badge and the countdown text.

The queue, the ticket page and the technicians' task list share these rules, and
console.js applies the same countdown format and state changes while a page stays open.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from urllib.parse import quote

from opsdesk.sla.engine import Phase
from opsdesk.tickets.schemas import ClockView

MAPS_SEARCH_URL = "https://www.openstreetmap.org/search?query="


class BadgeState(StrEnum):
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    BREACHED = "breached"
    PAUSED = "paused"
    MET = "met"
    NONE = "none"


BADGE_LABELS = {
    BadgeState.ON_TRACK: "On track",
    BadgeState.AT_RISK: "At risk",
    BadgeState.BREACHED: "Breached",
    BadgeState.PAUSED: "Paused",
    BadgeState.MET: "Met",
    BadgeState.NONE: "No target",
}


def is_at_risk(warn_at: datetime | None, warned_at: datetime | None, now: datetime) -> bool:
    """Return whether a running clock is past its warning instant (by default 75 % of target).

    `warn_at` is cleared once the worker fires the warning, so `warned_at` covers the
    time after that.
    """
    return warned_at is not None or (warn_at is not None and now >= warn_at)


def is_overdue(due_at: datetime | None, now: datetime) -> bool:
    """Return whether a running clock is past its due, the instant the worker fires a breach."""
    return due_at is not None and now >= due_at


def badge_of_view(view: ClockView, now: datetime) -> BadgeState:
    """Return the badge of a clock measured by `opsdesk.sla.reading.clock_view`."""
    if view.state == "breached":
        return BadgeState.BREACHED
    if view.state in {"met", "stopped"}:
        return BadgeState.MET
    if view.state == Phase.PAUSED.value:
        return BadgeState.PAUSED
    if view.due_at is None:
        return BadgeState.NONE
    if is_overdue(view.due_at, now):
        return BadgeState.BREACHED
    if is_at_risk(view.warn_at, view.warned_at, now):
        return BadgeState.AT_RISK
    return BadgeState.ON_TRACK


def badge_of_stored(
    *,
    phase: str,
    due_at: datetime | None,
    warn_at: datetime | None,
    warned_at: datetime | None,
    breached_at: datetime | None,
    now: datetime,
) -> BadgeState:
    """Return the badge of a clock from its stored columns, without measuring it again.

    Stored values are exact for running and stopped clocks. A paused clock stores no due,
    which is all the badge needs.
    """
    if phase == Phase.STOPPED.value:
        return BadgeState.BREACHED if breached_at is not None else BadgeState.MET
    if breached_at is not None:
        return BadgeState.BREACHED
    if phase == Phase.PAUSED.value:
        return BadgeState.PAUSED
    if due_at is None:
        return BadgeState.NONE
    if is_overdue(due_at, now):
        return BadgeState.BREACHED
    if is_at_risk(warn_at, warned_at, now):
        return BadgeState.AT_RISK
    return BadgeState.ON_TRACK


def countdown_text(due_at: datetime | None, now: datetime) -> str:
    """Format the wall-clock time to `due_at`: ``2h 05m 00s left`` or ``3m 10s overdue``.

    console.js writes the same format every second, so the first paint and the live
    value look alike.
    """
    if due_at is None:
        return ""
    remaining = (due_at - now).total_seconds()
    # At the due instant itself the clock counts as breached, so it reads "overdue" too.
    suffix = "left" if remaining > 0 else "overdue"
    seconds = int(abs(remaining))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        parts = f"{days}d {hours:02d}h {minutes:02d}m"
    elif hours:
        parts = f"{hours}h {minutes:02d}m {secs:02d}s"
    else:
        parts = f"{minutes}m {secs:02d}s"
    return f"{parts} {suffix}"


def maps_url(address: str | None) -> str | None:
    """Return an OpenStreetMap search link for a site address, or None without one."""
    if not address or not address.strip():
        return None
    return MAPS_SEARCH_URL + quote(address.strip(), safe="")
