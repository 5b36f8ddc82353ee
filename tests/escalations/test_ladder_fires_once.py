"""Each ladder level fires once per clock: across repeated runs, restarts and several workers.

The ticket is due Wed 09:00 UTC; heads_up fires at 08:00, at_due at 09:00, and chase at
10:00 and every 30 minutes after (see test_ladder_replanning for the arithmetic).
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from ladder_support import create, entries, fire_at, utc
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.settings import Settings
from opsdesk.sla import jobs
from opsdesk.sla.jobs import fire_clock, fire_due_clocks
from opsdesk.sla.models import SlaClock
from opsdesk.tickets.models import Ticket, TimelineEntry


async def firing_counts(db: Database) -> dict[tuple[int, str], int]:
    async with db.read() as session:
        rows = await session.execute(
            select(EscalationFiring.clock_id, EscalationFiring.level, func.count()).group_by(
                EscalationFiring.clock_id, EscalationFiring.level
            )
        )
        return {(clock_id, level): count for clock_id, level, count in rows}


async def triggered_count(db: Database, ticket_id: int | None = None) -> int:
    query = select(func.count()).select_from(TimelineEntry)
    query = query.where(TimelineEntry.kind == "escalation.triggered")
    if ticket_id is not None:
        query = query.where(TimelineEntry.ticket_id == ticket_id)
    async with db.read() as session:
        return int(await session.scalar(query) or 0)


async def event_count(db: Database, event_type: str) -> int:
    async with db.read() as session:
        count = await session.scalar(
            select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == event_type)
        )
        return int(count or 0)


async def resolution_clock(db: Database, ticket_id: int) -> SlaClock:
    async with db.read() as session:
        return (
            await session.execute(
                select(SlaClock).where(
                    SlaClock.ticket_id == ticket_id, SlaClock.metric == "resolution"
                )
            )
        ).scalar_one()


async def test_level_fires_once_across_runs_and_restart(
    database_url: str, db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ladder_ctx)
    clock.set(utc(11, 8, 0))
    assert await fire_due_clocks(db, ladder_ctx) >= 1
    assert await fire_due_clocks(db, ladder_ctx) == 0

    # A worker started afresh (new engine and connections) finds nothing due either.
    restarted = Database(database_url)
    try:
        assert await fire_due_clocks(restarted, ladder_ctx) == 0
        clock.set(utc(11, 10, 0))
        await fire_due_clocks(restarted, ladder_ctx)
    finally:
        await restarted.dispose()
    await fire_due_clocks(db, ladder_ctx)

    counts = await firing_counts(db)
    resolution = (await resolution_clock(db, ticket_id)).id
    assert counts == {
        (resolution, "ladder:resolution_ladder.heads_up:1"): 1,
        (resolution, "ladder:resolution_ladder.at_due:1"): 1,
        (resolution, "ladder:resolution_ladder.chase:1"): 1,
    }
    assert await triggered_count(db, ticket_id) == 3


@pytest.fixture
def postgres_ctx(postgres_url: str, ladder_ctx: Context) -> Context:
    settings = Settings(database_url=postgres_url, base_url="http://testserver")
    return Context(workspace=ladder_ctx.workspace, clock=ladder_ctx.clock, settings=settings)


async def test_concurrent_workers_fire_each_level_once(
    postgres_url: str, postgres_db: Database, postgres_ctx: Context, clock: FrozenClock
) -> None:
    # SQLite serialises writers with its database lock; PostgreSQL relies on row locks.
    db, ctx = postgres_db, postgres_ctx
    ticket_ids = [await create(db, ctx) for _ in range(10)]
    workers = [Database(postgres_url) for _ in range(3)]
    try:
        for instant in (utc(11, 8, 0), utc(11, 9, 0), utc(11, 10, 0), utc(11, 10, 30)):
            clock.set(instant)
            await asyncio.gather(*(fire_due_clocks(worker, ctx, limit=1000) for worker in workers))
    finally:
        for worker in workers:
            await worker.dispose()

    counts = await firing_counts(db)
    assert set(counts.values()) == {1}
    # Per ticket: heads_up, at_due, the chase and one repeat of it.
    assert len([key for key in counts if key[1].startswith("ladder:")]) == 4 * len(ticket_ids)
    for ticket_id in ticket_ids:
        assert await triggered_count(db, ticket_id) == 4
        chases = [m for m in await entries(db, ticket_id, "escalation.triggered") if "chase" in m]
        assert len(chases) == 2
    assert await event_count(db, "escalation.triggered") == 4 * len(ticket_ids)


async def fire_from_stale_read(
    db: Database, ctx: Context, clock_id: int, loaded: asyncio.Event, go: asyncio.Event
) -> None:
    """Fire the clock from a row read without the claim's lock, as a worker that lost it would."""
    async with db.transaction() as session:
        clock = await session.get(SlaClock, clock_id)
        assert clock is not None
        ticket = await session.get(Ticket, clock.ticket_id)
        assert ticket is not None
        loaded.set()
        await go.wait()
        await fire_clock(session, ctx, clock, ticket, None, now=ctx.clock.now())


async def test_unique_firing_stops_a_duplicate(
    postgres_db: Database, postgres_ctx: Context, clock: FrozenClock
) -> None:
    db, ctx = postgres_db, postgres_ctx
    ticket_id = await create(db, ctx)
    clock_id = (await resolution_clock(db, ticket_id)).id
    await fire_at(db, ctx, clock, utc(11, 8, 0))
    await fire_at(db, ctx, clock, utc(11, 9, 0))
    clock.set(utc(11, 10, 0))
    before = await triggered_count(db, ticket_id)

    # Both sessions read the clock while the chase is due and before either has fired
    # it, so both would fire chase:1; the unique (clock, level) key lets one commit.
    first_loaded, second_loaded, go = asyncio.Event(), asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(fire_from_stale_read(db, ctx, clock_id, first_loaded, go))
    second = asyncio.create_task(fire_from_stale_read(db, ctx, clock_id, second_loaded, go))
    await asyncio.wait_for(asyncio.gather(first_loaded.wait(), second_loaded.wait()), 10)
    go.set()
    results = await asyncio.wait_for(asyncio.gather(first, second, return_exceptions=True), 30)

    failures = [result for result in results if isinstance(result, BaseException)]
    assert len(failures) == 1
    assert isinstance(failures[0], IntegrityError)
    assert "escalation_firings" in str(failures[0])
    counts = await firing_counts(db)
    assert counts[(clock_id, "ladder:resolution_ladder.chase:1")] == 1
    assert await triggered_count(db, ticket_id) == before + 1
    assert await event_count(db, "escalation.triggered") == before + 1


async def test_retry_after_commit_waits_for_due(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    # A worker whose connection drops while its commit goes through gets an error for a
    # firing that was stored, and schedules a retry two seconds later. The retry must
    # not fire the next step, the breach at 09:00, ahead of its time.
    ticket_id = await create(db, ladder_ctx)
    await fire_at(db, ladder_ctx, clock, utc(11, 8, 0))
    clock_id = (await resolution_clock(db, ticket_id)).id
    await jobs._record_failure(db, clock_id, utc(11, 8, 0), ConnectionError("connection lost"))
    retry = await resolution_clock(db, ticket_id)
    assert retry.next_fire_at == utc(11, 8, 0) + timedelta(seconds=2)

    await fire_at(db, ladder_ctx, clock, utc(11, 8, 0) + timedelta(seconds=2))

    after_retry = await resolution_clock(db, ticket_id)
    assert after_retry.breached_at is None
    assert not [m for m in await entries(db, ticket_id, "sla.breached") if "resolution" in m]
    assert await triggered_count(db, ticket_id) == 1
    assert after_retry.next_fire_at == utc(11, 9, 0)
    await fire_at(db, ladder_ctx, clock, utc(11, 9, 0))
    breached = await resolution_clock(db, ticket_id)
    assert breached.breached_at == utc(11, 9, 0)
    assert await triggered_count(db, ticket_id) == 2
