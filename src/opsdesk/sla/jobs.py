"""Fire SLA timers at their due instant: warnings, breaches and their escalations."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.service import run_escalations
from opsdesk.events.service import emit
from opsdesk.sla.models import SlaClock
from opsdesk.sla.policies import format_span
from opsdesk.sla.service import BREACH_TIMER, WARNING_TIMER
from opsdesk.tasks.models import Task
from opsdesk.tasks.service import task_reference
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.service import reference_of
from opsdesk.timers import service as timers
from opsdesk.timers.models import Timer

logger = logging.getLogger(__name__)

MAX_TIMER_ATTEMPTS = 5


async def fire_due_timers(db: Database, ctx: Context, *, limit: int = 100) -> int:
    """Fire up to `limit` due timers, each in its own transaction; return how many fired."""
    handled = 0
    while handled < limit:
        now = ctx.clock.now()
        timer_id = None
        try:
            async with db.transaction() as session:
                timer = await timers.claim_due(session, now=now)
                if timer is None:
                    return handled
                timer_id = timer.id
                await fire_timer(session, ctx, timer, now=now)
        except Exception as exc:
            if timer_id is None:
                raise
            logger.exception("timer %s failed; it will be retried", timer_id)
            await _record_failure(db, timer_id, now, exc)
        handled += 1
    return handled


async def fire_timer(session: AsyncSession, ctx: Context, timer: Timer, *, now: datetime) -> None:
    """Handle one claimed timer inside the caller's transaction and mark it done."""
    timer.status = timers.DONE
    timer.fired_at = now
    timer.attempts += 1
    if timer.clock_id is None:
        return
    clock = (
        await session.execute(
            select(SlaClock).where(SlaClock.id == timer.clock_id).with_for_update()
        )
    ).scalar_one_or_none()
    # A timer from an older generation lost a race with a change to its clock (the new
    # timers were written in the same transaction as the change), so it has nothing to do.
    if clock is None or clock.generation != timer.generation or clock.phase != "running":
        return
    ticket = (
        await session.execute(select(Ticket).where(Ticket.id == clock.ticket_id).with_for_update())
    ).scalar_one()
    task = await session.get(Task, clock.task_id) if clock.task_id is not None else None
    if timer.kind == WARNING_TIMER:
        await _warn(session, ctx, clock, ticket, task, instant=timer.fire_at, now=now)
    elif timer.kind == BREACH_TIMER:
        await _breach(session, ctx, clock, ticket, task, instant=timer.fire_at, now=now)
    else:
        logger.error(
            "timer %s has unknown kind %r; marked done without action", timer.id, timer.kind
        )


def _payload(ctx: Context, clock: SlaClock, ticket: Ticket, task: Task | None) -> dict[str, object]:
    return {
        "reference": reference_of(ctx, ticket),
        "metric": clock.metric,
        "cycle": clock.cycle,
        "task": task_reference(task) if task else None,
        "priority": task.priority if task else ticket.priority,
        "due_at": clock.due_at.isoformat() if clock.due_at else None,
        "target_seconds": clock.target_seconds,
        "policy": clock.policy,
        "calendar": clock.calendar,
    }


def _what(ctx: Context, clock: SlaClock, task: Task | None) -> str:
    metric = clock.metric if not clock.cycle else f"{clock.metric} cycle {clock.cycle}"
    return f"{metric} of task {task_reference(task)}" if task else metric


async def _warn(
    session: AsyncSession,
    ctx: Context,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    *,
    instant: datetime,
    now: datetime,
) -> None:
    if clock.warned_at is not None:
        return
    clock.warned_at = instant
    clock.warn_at = None
    used = format_span(timedelta(seconds=(clock.target_seconds or 0) * clock.warning_fraction))
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id if task else None,
        clock_id=clock.id,
        at=instant,
        kind="sla.warning",
        message=(
            f"{_what(ctx, clock, task)} warning: {used} of {format_span(timedelta(seconds=clock.target_seconds or 0))} "
            f"used; due {clock.due_at.isoformat() if clock.due_at else 'unknown'}"
        ),
        data={"fired_at": now.isoformat()},
    )
    emit(
        session,
        type="sla.warning",
        at=instant,
        ticket_id=ticket.id,
        data=_payload(ctx, clock, ticket, task),
    )
    await run_escalations(
        session, ctx, on="warning", clock=clock, ticket=ticket, task=task, at=instant
    )


async def _breach(
    session: AsyncSession,
    ctx: Context,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    *,
    instant: datetime,
    now: datetime,
) -> None:
    if clock.breached_at is not None:
        return
    clock.breached_at = instant
    if clock.warned_at is None:
        # Warning and breach fell due together (a short target, or a worker that was
        # down). The breach supersedes the warning, which is recorded as skipped.
        clock.warned_at = instant
        timeline.record(
            session,
            ticket_id=ticket.id,
            task_id=task.id if task else None,
            clock_id=clock.id,
            at=instant,
            kind="sla.warning_skipped",
            message=f"{_what(ctx, clock, task)} warning skipped: breached at the same time",
        )
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id if task else None,
        clock_id=clock.id,
        at=instant,
        kind="sla.breached",
        message=f"{_what(ctx, clock, task)} breached: target {format_span(timedelta(seconds=clock.target_seconds or 0))} used up",
        data={"fired_at": now.isoformat()},
    )
    emit(
        session,
        type="sla.breached",
        at=instant,
        ticket_id=ticket.id,
        data=_payload(ctx, clock, ticket, task),
    )
    await run_escalations(
        session, ctx, on="breach", clock=clock, ticket=ticket, task=task, at=instant
    )


async def _record_failure(db: Database, timer_id: int, now: datetime, error: Exception) -> None:
    """Keep a failed timer for another try a little later, up to MAX_TIMER_ATTEMPTS."""
    async with db.transaction() as session:
        timer = await session.get(Timer, timer_id)
        if timer is None:
            return
        timer.attempts += 1
        timer.last_error = f"{type(error).__name__}: {error}"[:2000]
        if timer.attempts >= MAX_TIMER_ATTEMPTS:
            timer.status = "failed"
            logger.error("timer %s failed %d times; giving up", timer_id, timer.attempts)
        else:
            timer.fire_at = now + timedelta(seconds=2**timer.attempts)
