"""Run an incident log through the ticket services with the clock moved to each event.

Events of all incidents are merged in time order. Before each event, every clock due by
its instant fires at its own instant (warnings, breaches, escalations), exactly as the
worker would have fired it. Events are applied in batches, one transaction per batch, so
the replay measures the services and not the cost of a commit per row.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import InvalidInput
from opsdesk.replay.report import ReplayReport, build_figures
from opsdesk.replay.servicenow import IncidentRow, read_rows
from opsdesk.settings import Settings
from opsdesk.sla.jobs import fire_clock
from opsdesk.sla.models import SlaClock
from opsdesk.sla.service import take_fire_hints
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.workspace import Workspace
from opsdesk.workspace.schema import TicketStatus

logger = logging.getLogger(__name__)

ACTOR = "replay"
SERVICE_TYPE = "incident"
BATCH_SIZE = 20_000
"""Events per transaction. A ticket changed several times within one transaction is
written once, so larger batches write less; 20,000 events keep memory under 1 GB."""


@dataclass(order=True, frozen=True, slots=True)
class ReplayEvent:
    at: datetime
    incident: int
    step: int
    row: IncidentRow = field(compare=False)
    creates: bool = field(compare=False, default=False)


@dataclass
class ReplayState:
    tickets: dict[str, Ticket] = field(default_factory=dict)
    tickets_by_id: dict[int, Ticket] = field(default_factory=dict)
    skipped: dict[str, int] = field(
        default_factory=lambda: {"anomalous state": 0, "update after close": 0}
    )
    due: list[tuple[datetime, int, SlaClock]] = field(default_factory=list)
    """Heap of (instant, tie-breaker, clock): the clocks that must fire, soonest first."""
    order: itertools.count[int] = field(default_factory=itertools.count)


def build_events(rows: Iterable[IncidentRow]) -> tuple[list[ReplayEvent], dict[str, bool], int]:
    """Return all events in time order, each incident's final made_sla, and the row count.

    An incident's rows are ordered by update time then update count; a row stamped before
    the previous one (the log has a few) is moved to the previous instant, because a
    ticket's history cannot run backwards.
    """
    by_incident: dict[str, list[IncidentRow]] = {}
    count = 0
    for row in rows:
        by_incident.setdefault(row.number, []).append(row)
        count += 1
    events: list[ReplayEvent] = []
    made_sla: dict[str, bool] = {}
    for index, (number, incident_rows) in enumerate(by_incident.items()):
        incident_rows.sort(key=lambda row: (row.updated_at, row.mod_count))
        made_sla[number] = incident_rows[-1].made_sla
        first = incident_rows[0]
        at = min(first.opened_at, first.updated_at)
        events.append(ReplayEvent(at=at, incident=index, step=0, row=first, creates=True))
        for step, row in enumerate(incident_rows, start=1):
            at = max(at, row.updated_at)
            events.append(ReplayEvent(at=at, incident=index, step=step, row=row))
    events.sort()
    return events, made_sla, count


def _queue_hints(session: AsyncSession, state: ReplayState) -> None:
    for clock in take_fire_hints(session):
        if clock.next_fire_at is not None:
            heapq.heappush(state.due, (clock.next_fire_at, next(state.order), clock))


async def _fire_due(
    session: AsyncSession, ctx: Context, clock: FrozenClock, state: ReplayState, until: datetime
) -> None:
    """Fire, at its own instant, every clock that falls due by `until`, earliest first."""
    while state.due and state.due[0][0] <= until:
        fire_at, _, sla_clock = heapq.heappop(state.due)
        if sla_clock.next_fire_at != fire_at:
            continue  # the clock changed since this entry was queued
        ticket = state.tickets_by_id[sla_clock.ticket_id]
        if ticket not in session:
            session.add(ticket)
        clock.set(fire_at)
        await fire_clock(session, ctx, sla_clock, ticket, None, now=fire_at)
        _queue_hints(session, state)


async def _apply(
    session: AsyncSession, ctx: Context, state: ReplayState, event: ReplayEvent
) -> None:
    row = event.row
    if event.creates:
        created = await tickets.create_ticket(
            session,
            ctx,
            tickets.NewTicket(
                name=row.caller,
                email=None,
                phone=None,
                service_type=SERVICE_TYPE,
                contact_method=row.contact_method,
                priority=row.priority,
                subject=row.subject,
                description=f"Replayed from incident {row.number}.",
            ),
            channel="replay",
            at=event.at,
            external_ref=row.number,
        )
        state.tickets[row.number] = created.ticket
        state.tickets_by_id[created.ticket.id] = created.ticket
        if row.team is not None:
            await tickets.assign(
                session, ctx, created.ticket, actor=ACTOR, team=row.team, at=event.at
            )
        return

    ticket = state.tickets[row.number]
    if ticket not in session:
        session.add(ticket)
    if row.state is None:
        state.skipped["anomalous state"] += 1
        return
    if ticket.status == TicketStatus.CLOSED:
        state.skipped["update after close"] += 1
        return
    if row.priority != ticket.priority:
        await tickets.change_priority(
            session, ctx, ticket, priority=row.priority, actor=ACTOR, at=event.at
        )
    if row.team is not None and row.team != ticket.team:
        await tickets.assign(session, ctx, ticket, actor=ACTOR, team=row.team, at=event.at)
    if row.state != ticket.status:
        await tickets.change_status(
            session, ctx, ticket, status=row.state, actor=ACTOR, at=event.at
        )


async def replay(
    path: Path,
    *,
    workspace: Workspace,
    database: Database,
    settings: Settings,
    batch_size: int = BATCH_SIZE,
) -> ReplayReport:
    """Replay the ServiceNow log at `path` into an empty database and return the report."""
    started = time.perf_counter()
    events, made_sla, row_count = build_events(read_rows(path))
    if not events:
        raise InvalidInput(f"{path} has no incident rows")
    if SERVICE_TYPE not in {service.key for service in workspace.spec.service_types}:
        raise InvalidInput(f"the replay workspace needs a service type with key {SERVICE_TYPE!r}")
    async with database.read() as session:
        existing = (await session.execute(select(func.count(Ticket.id)))).scalar_one()
    if existing:
        raise InvalidInput(
            f"the database already has {existing} tickets; the replay needs an empty one "
            "(leave out --database to use a temporary SQLite file)"
        )

    clock = FrozenClock(events[0].at)
    ctx = Context(workspace=workspace, clock=clock, settings=settings)
    state = ReplayState()
    # One session for the whole replay, committed every `batch_size` events. After each
    # commit it lets go of everything but the tickets (and, through them, their clocks),
    # which the replay re-attaches when it next touches them.
    async with database.sessions() as session:
        for index, event in enumerate(events, start=1):
            await _fire_due(session, ctx, clock, state, event.at)
            clock.set(event.at)
            await _apply(session, ctx, state, event)
            _queue_hints(session, state)
            if index % batch_size == 0:
                await session.commit()
                session.expunge_all()
                logger.info("replayed %d of %d events", index, len(events))
        await _fire_due(session, ctx, clock, state, events[-1].at)
        await session.commit()

    async with database.read() as session:
        by_priority, total = await build_figures(
            session, priorities=workspace.priority_keys, made_sla=made_sla
        )
    wall = time.perf_counter() - started
    return ReplayReport(
        source=str(path),
        database=database.dialect,
        incidents=len(made_sla),
        events=row_count,
        skipped_events=state.skipped,
        first_event_at=events[0].at.isoformat(),
        last_event_at=events[-1].at.isoformat(),
        wall_seconds=round(wall, 2),
        events_per_second=round(row_count / wall, 1) if wall else 0.0,
        by_priority=by_priority,
        total=total,
    )
