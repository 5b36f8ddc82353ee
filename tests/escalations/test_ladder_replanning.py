"""Ladder levels not yet fired move with the due: priority changes, pauses and resumes.

The ticket of these tests is created on Tue 10 March at 10:00 in Lagos (09:00 UTC) with
priority high. Its resolution target is 10 working hours on the Lagos office calendar
(08:00 to 18:00 on weekdays), so it is due on Wed 10:00 Lagos, 09:00 UTC. The ladder
fires heads_up one working hour before the due, at_due at the due, and chase one hour of
wall time after it, then every 30 minutes until acknowledged.
"""

from __future__ import annotations

from datetime import datetime

from ladder_support import create, entries, fire_at, utc
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.sla.models import SlaClock
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket, TimelineEntry


async def level_firings(db: Database, ticket_id: int, level: str) -> list[datetime]:
    """Return the timeline instants of the ladder level's firings, oldest first."""
    async with db.read() as session:
        rows = (
            await session.execute(
                select(TimelineEntry.at, TimelineEntry.message)
                .where(
                    TimelineEntry.ticket_id == ticket_id,
                    TimelineEntry.kind == "escalation.triggered",
                )
                .order_by(TimelineEntry.at, TimelineEntry.id)
            )
        ).all()
    return [at for at, message in rows if f"level {level}" in message]


async def firing_keys(db: Database) -> list[str]:
    async with db.read() as session:
        return sorted((await session.execute(select(EscalationFiring.level))).scalars())


async def resolution_clock(db: Database, ticket_id: int) -> SlaClock:
    async with db.read() as session:
        clock = (
            await session.execute(
                select(SlaClock).where(
                    SlaClock.ticket_id == ticket_id,
                    SlaClock.task_id.is_(None),
                    SlaClock.metric == "resolution",
                )
            )
        ).scalar_one()
        return clock


async def set_priority(
    db: Database, ctx: Context, clock: FrozenClock, ticket_id: int, priority: str, at: datetime
) -> None:
    clock.set(at)
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_priority(session, ctx, ticket, priority=priority, actor="test")


async def set_status(
    db: Database, ctx: Context, clock: FrozenClock, ticket_id: int, status: str, at: datetime
) -> None:
    clock.set(at)
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(session, ctx, ticket, status=status, actor="test")


async def test_lower_priority_moves_remaining_levels(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ladder_ctx)
    await fire_at(db, ladder_ctx, clock, utc(11, 8, 0))
    assert await level_firings(db, ticket_id, "heads_up") == [utc(11, 8, 0)]

    # Medium gets 24 working hours: 8 on Tuesday, 10 on Wednesday and 6 on Thursday, so
    # the due moves to Thu 14:00 Lagos (13:00 UTC).
    await set_priority(db, ladder_ctx, clock, ticket_id, "medium", utc(11, 8, 10))
    assert (await resolution_clock(db, ticket_id)).due_at == utc(12, 13, 0)

    await fire_at(db, ladder_ctx, clock, utc(11, 9, 0))
    await fire_at(db, ladder_ctx, clock, utc(12, 12, 0))
    await fire_at(db, ladder_ctx, clock, utc(12, 12, 59))
    assert await level_firings(db, ticket_id, "at_due") == []
    # heads_up now belongs at Thu 12:00 UTC, but it fired already and does not repeat.
    assert await level_firings(db, ticket_id, "heads_up") == [utc(11, 8, 0)]

    await fire_at(db, ladder_ctx, clock, utc(12, 13, 0))
    assert await level_firings(db, ticket_id, "at_due") == [utc(12, 13, 0)]
    await fire_at(db, ladder_ctx, clock, utc(12, 14, 0))
    assert await level_firings(db, ticket_id, "chase") == [utc(12, 14, 0)]
    assert await firing_keys(db) == [
        "ladder:resolution_ladder.at_due:1",
        "ladder:resolution_ladder.chase:1",
        "ladder:resolution_ladder.heads_up:1",
    ]


async def test_raise_priority_brings_levels_forward(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    # Created medium, the ticket is due Thu 13:00 UTC; raised to high an hour later, it is
    # due as if it had been high from the start: Wed 09:00 UTC.
    ticket_id = await create(db, ladder_ctx, priority="medium")
    await set_priority(db, ladder_ctx, clock, ticket_id, "high", utc(10, 10, 0))
    assert (await resolution_clock(db, ticket_id)).due_at == utc(11, 9, 0)

    await fire_at(db, ladder_ctx, clock, utc(11, 7, 59))
    assert await level_firings(db, ticket_id, "heads_up") == []
    await fire_at(db, ladder_ctx, clock, utc(11, 8, 0))
    assert await level_firings(db, ticket_id, "heads_up") == [utc(11, 8, 0)]
    await fire_at(db, ladder_ctx, clock, utc(11, 9, 0))
    assert await level_firings(db, ticket_id, "at_due") == [utc(11, 9, 0)]


async def test_pause_after_a_level_moves_the_rest(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ladder_ctx)
    await fire_at(db, ladder_ctx, clock, utc(11, 8, 0))
    assert await level_firings(db, ticket_id, "heads_up") == [utc(11, 8, 0)]

    await set_status(db, ladder_ctx, clock, ticket_id, "waiting_on_customer", utc(11, 8, 0))
    paused = await resolution_clock(db, ticket_id)
    assert paused.phase == "paused"
    assert paused.next_fire_at is None
    # The old due passes while the clock is paused: nothing fires.
    await fire_at(db, ladder_ctx, clock, utc(11, 9, 30))
    assert await level_firings(db, ticket_id, "at_due") == []
    assert not [m for m in await entries(db, ticket_id, "sla.breached") if "resolution" in m]

    # Two working hours paused (Wed 09:00 to 11:00 Lagos) move the due to 11:00 UTC.
    await set_status(db, ladder_ctx, clock, ticket_id, "open", utc(11, 10, 0))
    resumed = await resolution_clock(db, ticket_id)
    assert resumed.due_at == utc(11, 11, 0)
    # The breach and at_due share that instant; the worker fires both in one run.
    assert resumed.next_fire_at == utc(11, 11, 0)

    await fire_at(db, ladder_ctx, clock, utc(11, 10, 59))
    assert await level_firings(db, ticket_id, "at_due") == []
    assert await level_firings(db, ticket_id, "heads_up") == [utc(11, 8, 0)]
    await fire_at(db, ladder_ctx, clock, utc(11, 11, 0))
    assert await level_firings(db, ticket_id, "at_due") == [utc(11, 11, 0)]
    await fire_at(db, ladder_ctx, clock, utc(11, 12, 0))
    await fire_at(db, ladder_ctx, clock, utc(11, 12, 30))
    assert await level_firings(db, ticket_id, "chase") == [utc(11, 12, 0), utc(11, 12, 30)]


async def test_pause_holds_repeats_until_resume(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ladder_ctx)
    for instant in (utc(11, 8, 0), utc(11, 9, 0), utc(11, 10, 0), utc(11, 10, 30)):
        await fire_at(db, ladder_ctx, clock, instant)
    assert await level_firings(db, ticket_id, "chase") == [utc(11, 10, 0), utc(11, 10, 30)]

    await set_status(db, ladder_ctx, clock, ticket_id, "waiting_on_customer", utc(11, 10, 40))
    assert (await resolution_clock(db, ticket_id)).next_fire_at is None
    for instant in (utc(11, 11, 0), utc(11, 11, 30), utc(11, 13, 59)):
        await fire_at(db, ladder_ctx, clock, instant)
    assert await level_firings(db, ticket_id, "chase") == [utc(11, 10, 0), utc(11, 10, 30)]

    # A breached clock keeps its due, so the repeats missed while paused are owed on
    # resuming: one fires at once, not one per missed interval, and the next 30 minutes
    # after it.
    await set_status(db, ladder_ctx, clock, ticket_id, "open", utc(11, 14, 0))
    resumed = await resolution_clock(db, ticket_id)
    assert resumed.due_at == utc(11, 9, 0)
    assert resumed.next_fire_level == "resolution_ladder.chase"
    await fire_at(db, ladder_ctx, clock, utc(11, 14, 0))
    await fire_at(db, ladder_ctx, clock, utc(11, 14, 29))
    assert await level_firings(db, ticket_id, "chase") == [
        utc(11, 10, 0),
        utc(11, 10, 30),
        utc(11, 14, 0),
    ]
    await fire_at(db, ladder_ctx, clock, utc(11, 14, 30))
    chases = [m for m in await entries(db, ticket_id, "escalation.triggered") if "chase" in m]
    assert len(chases) == 4
    assert "level chase, repeat 3" in chases[-1]
    # Levels that fired before the pause stay fired once.
    assert len(await level_firings(db, ticket_id, "heads_up")) == 1
    assert len(await level_firings(db, ticket_id, "at_due")) == 1


async def test_pause_before_breach_moves_the_repeats(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ladder_ctx)
    await fire_at(db, ladder_ctx, clock, utc(11, 8, 0))

    # Paused from Wed 09:30 to 12:30 Lagos (08:30 to 11:30 UTC), three working hours
    # before the breach: the due, at_due and the chase's first firing and repeats all
    # move three hours later.
    await set_status(db, ladder_ctx, clock, ticket_id, "waiting_on_customer", utc(11, 8, 30))
    await set_status(db, ladder_ctx, clock, ticket_id, "open", utc(11, 11, 30))
    assert (await resolution_clock(db, ticket_id)).due_at == utc(11, 12, 0)

    for hour, minute in ((11, 59), (12, 0), (12, 59), (13, 0), (13, 29), (13, 30)):
        await fire_at(db, ladder_ctx, clock, utc(11, hour, minute))
    assert await level_firings(db, ticket_id, "at_due") == [utc(11, 12, 0)]
    assert await level_firings(db, ticket_id, "chase") == [utc(11, 13, 0), utc(11, 13, 30)]
