"""SLA clocks fire their warning and breach once each, with their escalations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, func, select

from opsdesk.clock import FrozenClock, SystemClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.notifications.models import Notification
from opsdesk.settings import Settings
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.sla.models import SlaClock
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket, TicketMessage, TimelineEntry
from opsdesk.worker.runner import Worker
from opsdesk.workspace import Workspace, load_workspace

FAST_WORKSPACE = Path(__file__).resolve().parent.parent / "fixtures" / "fast-clocks.yaml"


def new_request(priority: str = "high", service_type: str = "solar_repair") -> tickets.NewTicket:
    return tickets.NewTicket(
        name="Ada Obi",
        email="ada@example.com",
        phone="+234 803 555 0101",
        service_type=service_type,
        contact_method="email",
        priority=priority,
        subject="Inverter trips",
        description="The inverter trips every hour.",
    )


async def create(db: Database, ctx: Context, request: tickets.NewTicket) -> int:
    async with db.transaction() as session:
        created = await tickets.create_ticket(session, ctx, request, channel="api")
        return created.ticket.id


async def count(db: Database, *conditions: object, model: type = TimelineEntry) -> int:
    async with db.read() as session:
        query = select(func.count()).select_from(model)
        for condition in conditions:
            query = query.where(condition)  # type: ignore[arg-type]
        return int((await session.execute(query)).scalar_one())


async def first_response(db: Database, ticket_id: int) -> SlaClock:
    async with db.read() as session:
        return (
            await session.execute(
                select(SlaClock).where(
                    SlaClock.ticket_id == ticket_id, SlaClock.metric == "first_response"
                )
            )
        ).scalar_one()


async def test_warning_then_breach_fire_once_with_escalation(
    db: Database, ctx: Context, clock: FrozenClock, make_user
) -> None:
    supervisor = await make_user("supervisor")
    # Tuesday 2026-03-10 10:00 in Lagos (09:00 UTC); high priority: first response in 1 h.
    ticket_id = await create(db, ctx, new_request())
    fr = await first_response(db, ticket_id)
    assert fr.due_at == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    assert fr.warn_at == datetime(2026, 3, 10, 9, 45, tzinfo=UTC)

    clock.set(datetime(2026, 3, 10, 9, 44, 59, tzinfo=UTC))
    assert await fire_due_clocks(db, ctx) == 0

    clock.set(datetime(2026, 3, 10, 9, 45, tzinfo=UTC))
    assert await fire_due_clocks(db, ctx) == 1
    warnings = await count(
        db, TimelineEntry.kind == "sla.warning", TimelineEntry.ticket_id == ticket_id
    )
    assert warnings == 1

    clock.set(datetime(2026, 3, 10, 10, 0, 30, tzinfo=UTC))
    assert await fire_due_clocks(db, ctx) == 1
    fr = await first_response(db, ticket_id)
    assert fr.breached_at == datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
    assert fr.next_fire_at is None

    async with db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        assert ticket.priority == "urgent"
        notes = (
            (
                await session.execute(
                    select(TicketMessage.body).where(
                        TicketMessage.ticket_id == ticket_id, TicketMessage.public.is_(False)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert "SLA breached: priority raised and supervisors notified." in notes
    assert "SLA warning: 75% of the target has been used." in notes
    assert await count(db, Notification.ticket_id == ticket_id, model=Notification) == 1
    breached_events = await count(
        db,
        OutboxEvent.type == "sla.breached",
        OutboxEvent.ticket_id == ticket_id,
        model=OutboxEvent,
    )
    assert breached_events == 1
    escalation_events = await count(
        db,
        OutboxEvent.type == "escalation.triggered",
        OutboxEvent.ticket_id == ticket_id,
        model=OutboxEvent,
    )
    # warn_owner on the warning, breach_to_supervisor on the breach.
    assert escalation_events == 2
    assert supervisor.email

    clock.advance(timedelta(minutes=5))
    await fire_due_clocks(db, ctx)
    assert (
        await count(db, TimelineEntry.kind == "sla.breached", TimelineEntry.clock_id == fr.id) == 1
    )
    assert await count(db, EscalationFiring.clock_id == fr.id, model=EscalationFiring) == 2


async def test_raised_priority_retargets_the_resolution_clock(
    db: Database, ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ctx, new_request())
    clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    await fire_due_clocks(db, ctx)
    async with db.read() as session:
        resolution = (
            await session.execute(
                select(SlaClock).where(
                    SlaClock.ticket_id == ticket_id, SlaClock.metric == "resolution"
                )
            )
        ).scalar_one()
    # Urgent tickets have a 4 h resolution target; the hour already used still counts,
    # so the due is 4 working hours after creation: 13:00 UTC (14:00 in Lagos).
    assert resolution.target_seconds == 4 * 3600
    assert resolution.due_at == datetime(2026, 3, 10, 13, 0, tzinfo=UTC)


async def test_paused_clock_does_not_fire(db: Database, ctx: Context, clock: FrozenClock) -> None:
    ticket_id = await create(db, ctx, new_request())
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(
            session, ctx, ticket, status="waiting_on_customer", actor="test"
        )
    clock.set(datetime(2026, 3, 13, 9, 0, tzinfo=UTC))
    await fire_due_clocks(db, ctx)
    async with db.read() as session:
        resolution = (
            await session.execute(
                select(SlaClock).where(
                    SlaClock.ticket_id == ticket_id, SlaClock.metric == "resolution"
                )
            )
        ).scalar_one()
    assert resolution.phase == "paused"
    assert resolution.breached_at is None
    assert resolution.next_fire_at is None


async def test_breach_fires_once_after_restart(
    database_url: str, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ctx, new_request())
    clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    await fire_due_clocks(db, ctx)

    restarted = Database(database_url)
    try:
        clock.advance(timedelta(minutes=1))
        assert await fire_due_clocks(restarted, ctx) == 0
    finally:
        await restarted.dispose()
    fr = await first_response(db, ticket_id)
    assert (
        await count(db, TimelineEntry.kind == "sla.breached", TimelineEntry.clock_id == fr.id) == 1
    )


async def test_concurrent_workers_fire_each_breach_once(
    postgres_url: str, postgres_db: Database, workspace: Workspace, clock: FrozenClock
) -> None:
    # SQLite serialises writers with its database lock; PostgreSQL relies on row locks.
    database_url, db = postgres_url, postgres_db
    ctx = Context(workspace=workspace, clock=clock, settings=Settings(database_url=database_url))
    ticket_ids = [await create(db, ctx, new_request()) for _ in range(30)]
    clock.set(datetime(2026, 3, 10, 10, 0, tzinfo=UTC))
    workers = [Database(database_url) for _ in range(3)]
    try:
        fired = await asyncio.gather(
            *(fire_due_clocks(worker, ctx, limit=1000) for worker in workers)
        )
    finally:
        for worker in workers:
            await worker.dispose()
    # Each ticket fires its first-response warning and its breach.
    assert sum(fired) == 2 * len(ticket_ids)
    breaches = await count(db, TimelineEntry.kind == "sla.breached")
    assert breaches == len(ticket_ids)
    firings = await count(db, model=EscalationFiring)
    assert firings == 2 * len(ticket_ids)


def fast_request(priority: str) -> tickets.NewTicket:
    """A request in the fast-clocks workspace, whose urgent first response is due in 1 s."""
    return tickets.NewTicket(
        name="Ada",
        email="ada@example.com",
        phone=None,
        service_type="repair",
        contact_method="email",
        priority=priority,
        subject="Fast",
        description="A request in the fast-clocks workspace.",
    )


async def test_worker_fires_breach_at_due_instant(database_url: str, db: Database) -> None:
    workspace = load_workspace(FAST_WORKSPACE)
    settings = Settings(database_url=database_url, idle_wakeup_seconds=60.0)
    ctx = Context(workspace=workspace, clock=SystemClock(), settings=settings)
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(db, ctx).run(stop))
    try:
        ticket_id = await create(db, ctx, fast_request("urgent"))
        fr = await first_response(db, ticket_id)
        for _ in range(100):
            fr = await first_response(db, ticket_id)
            if fr.breached_at is not None:
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
    # The worker would otherwise look for due clocks only once a minute, so a breach
    # within the ten seconds waited means it slept until the due instant.
    assert fr.breached_at is not None
    assert fr.breached_at == fr.due_at


async def test_worker_without_mail_skips_mail_reads(database_url: str, db: Database) -> None:
    workspace = load_workspace(FAST_WORKSPACE)
    settings = Settings(database_url=database_url, idle_wakeup_seconds=0.05)
    assert settings.smtp_host is None
    ctx = Context(workspace=workspace, clock=SystemClock(), settings=settings)
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(db, ctx).run(stop))
    try:
        await create(db, ctx, fast_request("normal"))
        # Twenty idle wake-ups and the ones the new ticket's events bring.
        await asyncio.sleep(1.0)
    finally:
        stop.set()
        await asyncio.wait_for(worker, 10)
        event.remove(engine, "before_cursor_execute", record)
    assert any("outbox_events" in statement for statement in statements)
    assert not [statement for statement in statements if "mail_deliveries" in statement]
