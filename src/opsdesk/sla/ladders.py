"""Plan escalation ladders: when the next level of a clock is due. Pure, no I/O.

A level's instant is the clock's due moved by the level's offset, in working time on the
clock's calendar or in elapsed time. A level that repeats fires again every
`repeat_every` of elapsed time after that instant until the clock is acknowledged.
Because every instant is measured from the current due, a priority change or a pause
re-plans the remaining levels by itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opsdesk.calendars import BusinessCalendar
from opsdesk.workspace.schema import LadderLevel

PENDING = "pending"
SKIPPED = "skipped"
CANCELLED = "cancelled"


@dataclass(frozen=True)
class LadderPlan:
    next_at: datetime | None = None
    next_level: str | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """Levels found unreachable now, with the reason, to record once."""


def level_instant(level: LadderLevel, due: datetime, calendar: BusinessCalendar) -> datetime:
    if level.clock == "business":
        return calendar.add(due, level.offset)
    return due + level.offset


def plan_ladder(
    levels: Sequence[tuple[str, LadderLevel]],
    *,
    due: datetime | None,
    calendar: BusinessCalendar,
    state: Mapping[str, Mapping[str, Any]],
    acknowledged_at: datetime | None,
    started_at: datetime,
    alerted_at: datetime | None = None,
) -> LadderPlan:
    """Return the earliest pending level and the levels that can no longer fire.

    `state` maps a level id to ``{"state": pending|skipped|cancelled, "count": n}``, where
    `count` is how many times it fired. A level whose first instant falls before the clock
    started (a due too close to the start for "one hour before the due") is skipped. A
    repeating level stops once the clock is acknowledged at or after its first firing, or
    at or after `alerted_at`, the instant of the clock's latest warning or breach. So an
    acknowledged breach also stops the repeats of a level that first fires after it, and
    an acknowledged warning does not stop the repeats of a level that starts after a
    later breach.
    """
    if due is None:
        return LadderPlan()
    best: tuple[datetime, str] | None = None
    skipped: list[tuple[str, str]] = []
    for level_id, level in levels:
        entry = state.get(level_id, {})
        if entry.get("state", PENDING) != PENDING:
            continue
        count = int(entry.get("count", 0))
        first = level_instant(level, due, calendar)
        if count == 0:
            if first < started_at:
                skipped.append(
                    (level_id, f"its instant {first.isoformat()} is before the clock started")
                )
                continue
            instant = first
        elif level.repeat_every is not None and (
            acknowledged_at is None
            or acknowledged_at < (first if alerted_at is None else min(first, alerted_at))
        ):
            # Counted from the last firing as well, so that a worker that was down, or a
            # due that moved earlier, leads to one firing now rather than a burst.
            instant = first + count * level.repeat_every
            last = entry.get("last")
            if isinstance(last, str):
                instant = max(instant, datetime.fromisoformat(last) + level.repeat_every)
        else:
            continue
        if best is None or instant < best[0]:
            best = (instant, level_id)
    if best is None:
        return LadderPlan(skipped=skipped)
    return LadderPlan(next_at=best[0], next_level=best[1], skipped=skipped)
