"""The SLA view of one ticket: every clock measured now, with its own timeline."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.sla.models import SlaClock
from opsdesk.sla.reading import clock_view, resolution_risks
from opsdesk.sla.schemas import ClockDetail, ClockEvent, TicketSla
from opsdesk.tasks.models import Task
from opsdesk.tasks.service import task_reference
from opsdesk.tickets.models import Ticket, TimelineEntry
from opsdesk.tickets.service import reference_of


async def ticket_sla(session: AsyncSession, ctx: Context, ticket: Ticket) -> TicketSla:
    now = ctx.clock.now()
    clocks = list(
        (
            await session.execute(
                select(SlaClock).where(SlaClock.ticket_id == ticket.id).order_by(SlaClock.id)
            )
        ).scalars()
    )
    tasks = {
        task.id: task
        for task in (
            await session.execute(select(Task).where(Task.ticket_id == ticket.id))
        ).scalars()
    }
    entries = (
        await session.execute(
            select(TimelineEntry)
            .where(TimelineEntry.ticket_id == ticket.id, TimelineEntry.clock_id.is_not(None))
            .order_by(TimelineEntry.at, TimelineEntry.id)
        )
    ).scalars()
    events: dict[int, list[ClockEvent]] = {clock.id: [] for clock in clocks}
    for entry in entries:
        if entry.clock_id in events:
            events[entry.clock_id].append(
                ClockEvent(
                    at=entry.at,
                    kind=entry.kind,
                    actor=entry.actor,
                    message=entry.message,
                    data=entry.data,
                )
            )

    details = []
    resolution = None
    task_clocks = []
    for clock in clocks:
        task = tasks.get(clock.task_id) if clock.task_id is not None else None
        reference = task_reference(task) if task is not None else None
        view = clock_view(clock, ctx.workspace.calendar(clock.calendar), now=now, task=reference)
        details.append(ClockDetail(**view.model_dump(), timeline=events[clock.id]))
        if task is not None and reference is not None:
            task_clocks.append((task, reference, view))
        elif clock.metric == "resolution":
            resolution = view
    policy = next((p for p in ctx.workspace.spec.sla_policies if p.key == ticket.sla_policy), None)
    if policy is not None:
        policy_name, calendar = policy.name, ctx.workspace.policy_calendar_key(policy)
    else:
        # A ticket whose clocks have all stopped keeps the key of a policy that the
        # workspace file may no longer define. Its stored clocks are shown all the same.
        policy_name = ticket.sla_policy
        calendar = resolution.calendar if resolution else ctx.workspace.spec.default_calendar
    return TicketSla(
        reference=reference_of(ctx, ticket),
        priority=ticket.priority,
        policy=ticket.sla_policy,
        policy_name=policy_name,
        calendar=calendar,
        clocks=details,
        resolution_risks=resolution_risks(resolution, task_clocks),
    )
