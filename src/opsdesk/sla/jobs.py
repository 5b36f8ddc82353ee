"""Fire SLA clocks at their due instants: warnings, breaches and their escalations."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.service import run_escalations, run_step
from opsdesk.events.service import emit
from opsdesk.metrics import DUE_LAG, FIRINGS
from opsdesk.sla.ladders import plan_ladder
from opsdesk.sla.models import SlaClock
from opsdesk.sla.policies import format_span
from opsdesk.sla.service import (
    BREACH,
    LADDER,
    WARNING,
    alerted_at,
    ladder_for,
    schedule_next_fire,
)
from opsdesk.tasks.models import Task
from opsdesk.tasks.service import task_reference
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.service import reference_of

logger = logging.getLogger(__name__)

MAX_FIRE_ATTEMPTS = 5


async def claim_due_clock(session: AsyncSession, *, now: datetime) -> SlaClock | None:
    """Lock and return the clock that is due soonest, skipping clocks other workers hold.

    The row stays locked until the caller's transaction ends, and the caller fires and
    re-derives its next instant in that same transaction, so one firing happens once
    however many workers run. On SQLite the transaction holds the database write lock,
    which serialises workers instead.
    """
    clock: SlaClock | None = (
        await session.execute(
            select(SlaClock)
            .where(SlaClock.next_fire_at.is_not(None), SlaClock.next_fire_at <= now)
            .order_by(SlaClock.next_fire_at)
            .limit(1)
            .with_for_update(skip_locked=True)
        )
    ).scalar_one_or_none()
    return clock


async def next_fire_at(session: AsyncSession) -> datetime | None:
    """Return the earliest instant any clock must fire, from the partial index."""
    value: datetime | None = (
        await session.execute(
            select(SlaClock.next_fire_at)
            .where(SlaClock.next_fire_at.is_not(None))
            .order_by(SlaClock.next_fire_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    return value


async def fire_due_clocks(db: Database, ctx: Context, *, limit: int = 100) -> int:
    """Fire up to `limit` due clocks, each in its own transaction; return how many fired."""
    handled = 0
    while handled < limit:
        now = ctx.clock.now()
        clock_id = None
        try:
            async with db.transaction() as session:
                clock = await claim_due_clock(session, now=now)
                if clock is None:
                    return handled
                clock_id = clock.id
                ticket = (
                    await session.execute(
                        select(Ticket).where(Ticket.id == clock.ticket_id).with_for_update()
                    )
                ).scalar_one()
                task = await session.get(Task, clock.task_id) if clock.task_id is not None else None
                await fire_clock(session, ctx, clock, ticket, task, now=now)
        except Exception as exc:
            if clock_id is None:
                raise
            logger.exception("firing SLA clock %s failed; it will be retried", clock_id)
            await _record_failure(db, clock_id, now, exc)
        handled += 1
    return handled


async def fire_clock(
    session: AsyncSession,
    ctx: Context,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    *,
    now: datetime,
) -> None:
    """Fire the clock's pending warning or breach, then set its next firing.

    The event and the timeline carry the instant the clock was due, not `now`, so a
    worker that fires late still records the true instant (and the lag in `fired_at`).
    """
    if clock.next_fire_at is None or clock.next_fire_at > now:
        return
    calendar = ctx.workspace.calendar(clock.calendar)
    step_at = _step_instant(clock)
    if step_at is not None and step_at > now:
        # A retry set after an error can come before the step it names: the failed attempt
        # may have committed after all (its connection dropped during COMMIT) and planned
        # the next step. Plan again rather than fire that step early.
        clock.fire_attempts = 0
        schedule_next_fire(
            session, clock, ladder=ladder_for(ctx, clock, ticket), calendar=calendar, at=now
        )
        return
    # next_fire_at may have been pushed back after a failed attempt; the level's own
    # instant is warn_at or due_at.
    if clock.next_fire_kind is not None:
        DUE_LAG.labels(clock.next_fire_kind).observe(
            max(0.0, (now - clock.next_fire_at).total_seconds())
        )
        FIRINGS.labels(clock.next_fire_kind).inc()
    if clock.next_fire_kind == WARNING and clock.warned_at is None and clock.warn_at is not None:
        await _warn(session, ctx, clock, ticket, task, instant=clock.warn_at, now=now)
    elif clock.next_fire_kind == BREACH and clock.breached_at is None and clock.due_at is not None:
        await _breach(session, ctx, clock, ticket, task, instant=clock.due_at, now=now)
    elif clock.next_fire_kind == LADDER and clock.next_fire_level is not None:
        await _climb(session, ctx, clock, ticket, task, level_id=clock.next_fire_level, now=now)
    clock.fire_attempts = 0
    schedule_next_fire(
        session, clock, ladder=ladder_for(ctx, clock, ticket), calendar=calendar, at=now
    )


def _step_instant(clock: SlaClock) -> datetime | None:
    """Return the instant of the clock's pending warning or breach; None for a ladder level.

    A ladder level's instant depends on the ladder's state, so `_climb` checks it itself.
    """
    if clock.next_fire_kind == WARNING:
        return clock.warn_at
    if clock.next_fire_kind == BREACH:
        return clock.due_at
    return None


async def _climb(
    session: AsyncSession,
    ctx: Context,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    *,
    level_id: str,
    now: datetime,
) -> None:
    """Fire one escalation ladder level (or one repetition of it)."""
    ladder = dict(clock.ladder or {})
    entry = dict(ladder.get(level_id, {}))
    found = ctx.workspace.ladder_level(level_id)
    if found is None:
        entry["state"] = "cancelled"
        ladder[level_id] = entry
        clock.ladder = ladder
        timeline.record(
            session,
            ticket_id=ticket.id,
            task_id=task.id if task else None,
            clock_id=clock.id,
            at=now,
            kind="escalation.cancelled",
            message=f"escalation level {level_id} cancelled: it is no longer in the workspace file",
        )
        return
    escalation, level = found
    plan = plan_ladder(
        ladder_for(ctx, clock, ticket),
        due=clock.due_at,
        calendar=ctx.workspace.calendar(clock.calendar),
        state=ladder,
        acknowledged_at=clock.acknowledged_at,
        started_at=clock.started_at,
        alerted_at=alerted_at(clock),
    )
    if plan.next_level != level_id or plan.next_at is None or plan.next_at > now:
        # The clock changed since this firing was planned (acknowledged, paused, new due);
        # the caller plans the next firing again.
        return
    count = int(entry.get("count", 0))
    # The first firing records the level's own instant; a repeat records when it really
    # ran, which is what the next repeat is counted from.
    instant = plan.next_at if count == 0 else now
    label = f"level {level.key}" + (f", repeat {count}" if count else "")
    await run_step(
        session,
        ctx,
        escalation=escalation,
        actions=level.actions,
        level=label,
        firing_key=f"ladder:{level_id}:{count + 1}",
        clock=clock,
        ticket=ticket,
        task=task,
        at=instant,
    )
    entry.update({"state": "pending", "count": count + 1, "last": instant.isoformat()})
    ladder[level_id] = entry
    clock.ladder = ladder


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


def _what(clock: SlaClock, task: Task | None) -> str:
    metric = clock.metric if not clock.cycle else f"{clock.metric} cycle {clock.cycle}"
    return f"{metric} of task {task_reference(task)}" if task else metric


def _span(seconds: float) -> str:
    return format_span(timedelta(seconds=seconds))


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
    clock.warned_at = instant
    clock.warn_at = None
    target = clock.target_seconds or 0
    due = clock.due_at.isoformat() if clock.due_at else "unknown"
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id if task else None,
        clock_id=clock.id,
        at=instant,
        kind="sla.warning",
        message=(
            f"{_what(clock, task)} warning: {_span(target * clock.warning_fraction)} of "
            f"{_span(target)} used; due {due}"
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
    clock.breached_at = instant
    if clock.warned_at is None:
        # The warning never fired (its instant fell with the breach, or the warning
        # level is off); the breach supersedes it and the timeline says so.
        clock.warned_at = instant
        timeline.record(
            session,
            ticket_id=ticket.id,
            task_id=task.id if task else None,
            clock_id=clock.id,
            at=instant,
            kind="sla.warning_skipped",
            message=f"{_what(clock, task)} warning skipped: breached first",
        )
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id if task else None,
        clock_id=clock.id,
        at=instant,
        kind="sla.breached",
        message=(
            f"{_what(clock, task)} breached: the due set by hand, {instant.isoformat()}, passed"
            if clock.due_override_at is not None
            else f"{_what(clock, task)} breached: target {_span(clock.target_seconds or 0)} used up"
        ),
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


async def _record_failure(db: Database, clock_id: int, now: datetime, error: Exception) -> None:
    """Retry a clock that failed to fire a little later; stop after MAX_FIRE_ATTEMPTS."""
    async with db.transaction() as session:
        clock = await session.get(SlaClock, clock_id, with_for_update=True)
        if clock is None:
            return
        clock.fire_attempts += 1
        clock.last_fire_error = f"{type(error).__name__}: {error}"[:2000]
        if clock.fire_attempts >= MAX_FIRE_ATTEMPTS:
            logger.error(
                "SLA clock %s failed to fire %d times; it will not fire again until it changes",
                clock_id,
                clock.fire_attempts,
            )
            clock.next_fire_at = None
            clock.next_fire_kind = None
        else:
            clock.next_fire_at = now + timedelta(seconds=2**clock.fire_attempts)
