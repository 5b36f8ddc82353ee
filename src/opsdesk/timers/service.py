"""Schedule and cancel timers; the worker fires them (see `opsdesk.sla.jobs`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.timers.models import Timer
from opsdesk.wakeups import request_wakeup

_EARLIEST_KEY = "opsdesk_earliest_new_timer"

PENDING = "pending"
DONE = "done"
CANCELLED = "cancelled"


def schedule(
    session: AsyncSession,
    *,
    kind: str,
    clock_id: int,
    fire_at: datetime,
    generation: int,
    at: datetime,
) -> Timer:
    timer = Timer(
        kind=kind,
        clock_id=clock_id,
        fire_at=fire_at,
        status=PENDING,
        generation=generation,
        created_at=at,
    )
    session.add(timer)
    request_wakeup(session, "timers")
    info = session.sync_session.info
    earliest = info.get(_EARLIEST_KEY)
    if earliest is None or fire_at < earliest:
        info[_EARLIEST_KEY] = fire_at
    return timer


def take_earliest_scheduled(session: AsyncSession) -> datetime | None:
    """Return and forget the earliest fire instant scheduled in this session so far.

    The replay uses it to know when it must look for due timers again without asking
    the database after every event.
    """
    earliest: datetime | None = session.sync_session.info.pop(_EARLIEST_KEY, None)
    return earliest


async def cancel_for_clock(session: AsyncSession, clock_id: int) -> None:
    await session.execute(
        update(Timer)
        .where(Timer.clock_id == clock_id, Timer.status == PENDING)
        .values(status=CANCELLED)
    )


async def next_fire_at(session: AsyncSession) -> datetime | None:
    """Return the earliest pending fire instant, using the partial index on pending rows."""
    value: datetime | None = (
        await session.execute(
            select(Timer.fire_at).where(Timer.status == PENDING).order_by(Timer.fire_at).limit(1)
        )
    ).scalar_one_or_none()
    return value


async def claim_due(session: AsyncSession, *, now: datetime) -> Timer | None:
    """Lock and return the earliest due pending timer that no other worker holds.

    The row stays locked until the caller's transaction ends, and the caller marks it
    done in that same transaction, so a timer is handled by exactly one worker.
    On SQLite the transaction holds the database write lock, which serialises workers.
    """
    timer: Timer | None = (
        await session.execute(
            select(Timer)
            .where(Timer.status == PENDING, Timer.fire_at <= now)
            .order_by(Timer.fire_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    return timer
