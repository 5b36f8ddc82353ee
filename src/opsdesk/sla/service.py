"""SLA clocks of real tickets and tasks, stored as `SlaClock` rows.

Each row keeps its clock's transitions, which are the source of truth. Due, warning
instant, phase and elapsed time are derived from them with the calendar and stored beside
them, so queues can sort by due instant. Every change re-derives those values, records the change
on the ticket timeline, and replaces the clock's timers when its due or warning moved.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.calendars import BusinessCalendar
from opsdesk.context import Context
from opsdesk.db import allocate_ids, table_of
from opsdesk.errors import Conflict, InvalidInput
from opsdesk.sla.engine import Phase, Transition, fire_instant, measure
from opsdesk.sla.ladders import CANCELLED, PENDING, SKIPPED, plan_ladder
from opsdesk.sla.models import SlaClock
from opsdesk.sla.policies import format_span, rules_for
from opsdesk.sla.rules import Metric
from opsdesk.sla.ticket_sla import Change, ChangeKind, TicketSla, Track
from opsdesk.tasks.models import Task
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.wakeups import request_wakeup
from opsdesk.workspace.schema import LadderLevel

OPERATIONAL = "operational"
WARNING = "warning"
BREACH = "breach"
LADDER = "ladder"
_FIRE_HINTS = "opsdesk_fire_hints"


def _target(row: SlaClock) -> timedelta | None:
    return None if row.target_seconds is None else timedelta(seconds=row.target_seconds)


def _seconds(target: timedelta | None) -> int | None:
    return None if target is None else int(target.total_seconds())


def transitions_of(row: SlaClock) -> list[Transition]:
    return [Transition.from_dict(item) for item in row.transitions]


def project(
    session: AsyncSession,
    row: SlaClock,
    transitions: list[Transition],
    calendar: BusinessCalendar,
    at: datetime,
    ladder: Sequence[tuple[str, LadderLevel]] = (),
) -> None:
    """Re-derive the stored values of `row` from its transitions, measured at `at`.

    A paused clock stores no due instant, because its projected due moves on with every
    working minute of the pause; readers measure it live instead. A due set by hand
    (`due_override_at`) replaces the computed one for as long as it is set.
    """
    target = _target(row)
    measurement = measure(transitions, calendar, target, at)
    row.phase = measurement.phase.value
    row.elapsed_seconds = measurement.elapsed.total_seconds()
    row.paused_seconds = measurement.paused.total_seconds()
    row.stopped_at = measurement.stopped_at
    due = row.due_override_at if row.due_override_at is not None else measurement.due
    row.due_at = due if measurement.phase is not Phase.PAUSED else None
    stopped_late = (
        measurement.stopped_at is not None and due is not None and measurement.stopped_at > due
    )
    if stopped_late and row.breached_at is None:
        # The clock stopped after its due before a worker fired the breach (the worker
        # was down or behind). The breach is recorded; escalations do not run for a
        # clock that is no longer running.
        row.breached_at = due
    row.warn_at = None
    if target is not None and measurement.phase is Phase.RUNNING and row.warned_at is None:
        row.warn_at = fire_instant(transitions, calendar, target * row.warning_fraction)
        if row.warn_at is not None and due is not None and row.warn_at >= due:
            row.warn_at = None  # the breach comes first, so a warning would say nothing
    schedule_next_fire(session, row, ladder=ladder, calendar=calendar, at=at)


def schedule_next_fire(
    session: AsyncSession,
    row: SlaClock,
    *,
    ladder: Sequence[tuple[str, LadderLevel]] = (),
    calendar: BusinessCalendar | None = None,
    at: datetime | None = None,
) -> None:
    """Set the instant and kind of the clock's next firing.

    That is the earliest of its warning, its breach and its next escalation ladder level.
    When the clock stops, the ladder levels that never fired are cancelled.
    """
    old = row.next_fire_at
    row.next_fire_at = None
    row.next_fire_kind = None
    row.next_fire_level = None
    candidates: list[tuple[datetime, str, str | None]] = []
    if row.phase == Phase.RUNNING.value:
        if row.warn_at is not None and row.warned_at is None:
            candidates.append((row.warn_at, WARNING, None))
        elif row.due_at is not None and row.breached_at is None:
            candidates.append((row.due_at, BREACH, None))
        if ladder and calendar is not None:
            plan = plan_ladder(
                ladder,
                due=row.due_at,
                calendar=calendar,
                state=row.ladder or {},
                acknowledged_at=row.acknowledged_at,
                started_at=row.started_at,
                alerted_at=alerted_at(row),
            )
            for level_id, reason in plan.skipped:
                _close_level(session, row, level_id, SKIPPED, f"skipped: {reason}", at)
            if plan.next_at is not None:
                candidates.append((plan.next_at, LADDER, plan.next_level))
    elif row.phase == Phase.STOPPED.value and ladder:
        verdict = "breached" if row.breached_at is not None else "met"
        for level_id, _ in ladder:
            entry = (row.ladder or {}).get(level_id, {})
            if entry.get("state", PENDING) == PENDING and int(entry.get("count", 0)) == 0:
                _close_level(
                    session,
                    row,
                    level_id,
                    CANCELLED,
                    f"cancelled: the clock stopped ({verdict})",
                    at,
                )
    if candidates:
        row.next_fire_at, row.next_fire_kind, row.next_fire_level = min(
            candidates, key=lambda item: item[0]
        )
    if row.next_fire_at is not None and row.next_fire_at != old:
        request_wakeup(session, "timers")
        session.sync_session.info.setdefault(_FIRE_HINTS, []).append(row)


def alerted_at(row: SlaClock) -> datetime | None:
    """Return the instant of the clock's latest warning or breach, or None before either."""
    instants = [instant for instant in (row.warned_at, row.breached_at) if instant is not None]
    return max(instants, default=None)


def _close_level(
    session: AsyncSession,
    row: SlaClock,
    level_id: str,
    state: str,
    reason: str,
    at: datetime | None,
) -> None:
    """Mark a ladder level as skipped or cancelled, once, with a timeline entry."""
    ladder = dict(row.ladder or {})
    entry = dict(ladder.get(level_id, {}))
    entry["state"] = state
    ladder[level_id] = entry
    row.ladder = ladder
    timeline.record(
        session,
        ticket_id=row.ticket_id,
        task_id=row.task_id,
        clock_id=row.id,
        at=at or row.stopped_at or row.started_at,
        kind=f"escalation.{state}",
        message=f"{row.metric} escalation level {level_id} {reason}",
        data={"level": level_id, "state": state},
    )


def ladder_for(ctx: Context, row: SlaClock, ticket: Ticket) -> list[tuple[str, LadderLevel]]:
    """The escalation ladder levels that apply to this clock of this ticket."""
    return ctx.workspace.ladder_levels(row.metric, ticket.facts())


def take_fire_hints(session: AsyncSession) -> list[SlaClock]:
    """Return and forget the clocks whose next firing was set in this session.

    The replay uses it to keep its own queue of due clocks instead of querying the
    database before every event.
    """
    hints: list[SlaClock] = session.sync_session.info.pop(_FIRE_HINTS, [])
    return hints


def _describe(change: Change, row: SlaClock) -> str:
    text = change.describe()
    if change.kind in {
        ChangeKind.STARTED,
        ChangeKind.CYCLE_OPENED,
        ChangeKind.RESUMED,
        ChangeKind.RETARGETED,
    }:
        if row.due_at is not None:
            text += f"; target {format_span(_target(row))}, due {row.due_at.isoformat()}"
        elif row.target_seconds is None:
            text += "; no target"
    elif change.kind is ChangeKind.PAUSED:
        used = format_span(timedelta(seconds=row.elapsed_seconds))
        text += f"; {used} used of {format_span(_target(row))}"
    elif change.kind in {ChangeKind.STOPPED, ChangeKind.CYCLE_CLOSED}:
        verdict = "breached" if row.breached_at is not None else "met"
        text += f"; {verdict} after {format_span(timedelta(seconds=row.elapsed_seconds))}"
    return text


# Ticket clocks


async def ticket_clock_rows(ticket: Ticket) -> list[SlaClock]:
    """Return the ticket's own clocks, loaded once per ticket object and kept with it."""
    rows: list[SlaClock] = await ticket.awaitable_attrs.clocks
    return rows


def _ticket_calendar(ctx: Context, ticket: Ticket) -> tuple[BusinessCalendar, str]:
    policy = ctx.workspace.policy(ticket.sla_policy)
    key = ctx.workspace.policy_calendar_key(policy)
    return ctx.workspace.calendar(key), key


def _restore(ctx: Context, ticket: Ticket, rows: list[SlaClock], status: str) -> TicketSla:
    sla = TicketSla(rules_for(ctx.workspace.policy(ticket.sla_policy)))
    sla.status = status
    sla.priority = ticket.priority
    sla.created_at = ticket.created_at
    last = ticket.created_at
    for row in rows:
        track = Track(
            metric=Metric(row.metric),
            target=_target(row),
            transitions=transitions_of(row),
            cycle=row.cycle or None,
        )
        last = max(last, track.transitions[-1].at)
        if track.metric is Metric.FIRST_RESPONSE:
            sla.first_response = track
            sla.first_responded = track.stopped
        elif track.metric is Metric.RESOLUTION:
            sla.resolution = track
        else:
            sla.next_response.append(track)
    sla.next_response.sort(key=lambda track: track.cycle or 0)
    sla.last_event_at = last
    return sla


async def _store(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    sla: TicketSla,
    changes: list[Change],
    at: datetime,
    actor: str,
) -> list[SlaClock]:
    """Write the changed tracks of `sla` back to the ticket's rows, with timeline entries."""
    rows = await ticket_clock_rows(ticket)
    if not changes:
        return rows
    calendar, calendar_key = _ticket_calendar(ctx, ticket)
    policy = ctx.workspace.policy(ticket.sla_policy)
    by_key = {(row.metric, row.cycle): row for row in rows}
    touched = {(change.metric.value, change.cycle or 0) for change in changes}
    tracks = [track for track in sla.tracks() if (track.metric.value, track.cycle or 0) in touched]
    missing = [track for track in tracks if (track.metric.value, track.cycle or 0) not in by_key]
    ids = await allocate_ids(session, table_of(SlaClock), len(missing))
    for track, clock_id in zip(missing, ids, strict=True):
        row = SlaClock(
            id=clock_id,
            ticket_id=ticket.id,
            task_id=None,
            metric=track.metric.value,
            cycle=track.cycle or 0,
            policy=policy.key,
            definition=ctx.workspace.clock_definition(policy=policy),
            calendar=calendar_key,
            warning_fraction=policy.warning_at,
            phase=track.phase.value,
            started_at=track.transitions[0].at,
            fire_attempts=0,
        )
        rows.append(row)
        by_key[(row.metric, row.cycle)] = row
    for track in tracks:
        row = by_key[(track.metric.value, track.cycle or 0)]
        row.transitions = [transition.to_dict() for transition in track.transitions]
        row.target_seconds = _seconds(track.target)
        project(session, row, track.transitions, calendar, at, ladder_for(ctx, row, ticket))
    for change in changes:
        row = by_key[(change.metric.value, change.cycle or 0)]
        timeline.record(
            session,
            ticket_id=ticket.id,
            clock_id=row.id,
            at=change.at,
            kind=f"sla.{change.kind.value}",
            actor=actor,
            message=_describe(change, row),
            data=change.to_dict(),
        )
    return rows


def clocks_of_new_ticket(ctx: Context, policy_key: str, task_pipelines: Sequence[str]) -> int:
    """Count the clock rows a new ticket gets: its own under the policy, one per timed task.

    Matches what `start_ticket_clocks` and `start_task_clock` write, so intake can reserve
    all of its ids in one round trip.
    """
    rules = rules_for(ctx.workspace.policy(policy_key))
    own = 3 if rules.next_response_from_creation else 2
    timed_tasks = sum(
        1 for key in task_pipelines if ctx.workspace.pipeline(key).operational_sla is not None
    )
    return own + timed_tasks


async def start_ticket_clocks(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, at: datetime
) -> list[SlaClock]:
    sla = TicketSla(rules_for(ctx.workspace.policy(ticket.sla_policy)))
    changes = sla.create(at, status=ticket.status, priority=ticket.priority)
    return await _store(session, ctx, ticket, sla, changes, at, timeline.SYSTEM)


async def on_ticket_status(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    old_status: str,
    at: datetime,
    actor: str = timeline.SYSTEM,
) -> None:
    sla = _restore(ctx, ticket, await ticket_clock_rows(ticket), old_status)
    changes = sla.set_status(at, ticket.status)
    await _store(session, ctx, ticket, sla, changes, at, actor)


async def on_ticket_reply(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    by: Literal["agent", "customer"],
    public: bool,
    at: datetime,
    actor: str = timeline.SYSTEM,
) -> None:
    sla = _restore(ctx, ticket, await ticket_clock_rows(ticket), ticket.status)
    changes = sla.reply(at, by=by, public=public)
    await _store(session, ctx, ticket, sla, changes, at, actor)


async def on_ticket_priority(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    at: datetime,
    cause: str,
    actor: str = timeline.SYSTEM,
) -> None:
    sla = _restore(ctx, ticket, await ticket_clock_rows(ticket), ticket.status)
    changes = sla.set_priority(at, ticket.priority)
    await _store(session, ctx, ticket, sla, changes, at, actor)


async def all_clock_rows(session: AsyncSession, ticket_id: int) -> list[SlaClock]:
    """Return the clocks of the ticket and of its tasks, locked for update."""
    query = select(SlaClock).where(SlaClock.ticket_id == ticket_id).order_by(SlaClock.id)
    return list((await session.execute(query.with_for_update())).scalars())


# Task clocks


async def task_clock_row(session: AsyncSession, task_id: int) -> SlaClock | None:
    row: SlaClock | None = (
        await session.execute(select(SlaClock).where(SlaClock.task_id == task_id))
    ).scalar_one_or_none()
    return row


def _task_phase(ctx: Context, task: Task, ticket: Ticket) -> Phase:
    stage = ctx.workspace.stage(task.pipeline, task.stage)
    # A closed ticket needs no more field work, so its open tasks' clocks stop too.
    if stage.completes or ticket.status == "closed":
        return Phase.STOPPED
    return Phase.PAUSED if stage.pauses_sla else Phase.RUNNING


def _task_target(ctx: Context, task: Task) -> timedelta | None:
    operational = ctx.workspace.pipeline(task.pipeline).operational_sla
    return None if operational is None else operational.targets.get(task.priority)


async def start_task_clock(
    session: AsyncSession, ctx: Context, task: Task, ticket: Ticket, *, at: datetime
) -> SlaClock | None:
    """Start the operational clock of a new task, if its pipeline has an operational SLA."""
    pipeline = ctx.workspace.pipeline(task.pipeline)
    if pipeline.operational_sla is None:
        return None
    calendar_key = ctx.workspace.pipeline_calendar_key(pipeline)
    calendar = ctx.workspace.calendar(calendar_key)
    phase = _task_phase(ctx, task, ticket)
    transitions = [Transition(at, phase, "task created")]
    (clock_id,) = await allocate_ids(session, table_of(SlaClock))
    row = SlaClock(
        id=clock_id,
        ticket_id=ticket.id,
        task_id=task.id,
        metric=OPERATIONAL,
        cycle=0,
        policy=f"pipeline:{pipeline.key}",
        definition=ctx.workspace.clock_definition(pipeline=pipeline),
        calendar=calendar_key,
        target_seconds=_seconds(_task_target(ctx, task)),
        warning_fraction=pipeline.operational_sla.warning_at,
        transitions=[transition.to_dict() for transition in transitions],
        phase=phase.value,
        started_at=at,
        fire_attempts=0,
    )
    session.add(row)
    project(session, row, transitions, calendar, at, ladder_for(ctx, row, ticket))
    task.due_at = row.due_at
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id,
        clock_id=row.id,
        at=at,
        kind="sla.started",
        message=(
            f"operational clock started on calendar {calendar_key}; "
            f"target {format_span(_target(row))}"
            + (f", due {row.due_at.isoformat()}" if row.due_at else "")
        ),
    )
    return row


async def _update_task_clock(
    session: AsyncSession,
    ctx: Context,
    task: Task,
    ticket: Ticket,
    *,
    at: datetime,
    cause: str,
    actor: str,
) -> None:
    row = await task_clock_row(session, task.id)
    if row is None:
        return
    calendar = ctx.workspace.calendar(row.calendar)
    transitions = transitions_of(row)
    messages: list[tuple[str, str]] = []
    phase = _task_phase(ctx, task, ticket)
    if phase.value != transitions[-1].phase.value:
        transitions.append(Transition(at, phase, cause))
        kind = {Phase.STOPPED: "stopped", Phase.PAUSED: "paused", Phase.RUNNING: "resumed"}[phase]
        messages.append((f"sla.{kind}", f"operational clock {kind}: {cause}"))
    target = _seconds(_task_target(ctx, task))
    if target != row.target_seconds and phase is not Phase.STOPPED:
        row.target_seconds = target
        messages.append(("sla.retargeted", f"operational clock retargeted: {cause}"))
    if not messages:
        return
    row.transitions = [transition.to_dict() for transition in transitions]
    project(session, row, transitions, calendar, at, ladder_for(ctx, row, ticket))
    task.due_at = row.due_at
    for kind, message in messages:
        if row.due_at is not None and kind != "sla.stopped":
            message += f"; due {row.due_at.isoformat()}"
        if kind == "sla.stopped":
            verdict = "breached" if row.breached_at is not None else "met"
            message += f"; {verdict} after {format_span(timedelta(seconds=row.elapsed_seconds))}"
        timeline.record(
            session,
            ticket_id=ticket.id,
            task_id=task.id,
            clock_id=row.id,
            at=at,
            kind=kind,
            actor=actor,
            message=message,
        )


async def on_task_stage(
    session: AsyncSession,
    ctx: Context,
    task: Task,
    ticket: Ticket,
    *,
    at: datetime,
    cause: str,
    actor: str = timeline.SYSTEM,
) -> None:
    await _update_task_clock(session, ctx, task, ticket, at=at, cause=cause, actor=actor)


async def on_task_priority(
    session: AsyncSession,
    ctx: Context,
    task: Task,
    ticket: Ticket,
    *,
    at: datetime,
    cause: str,
    actor: str = timeline.SYSTEM,
) -> None:
    await _update_task_clock(session, ctx, task, ticket, at=at, cause=cause, actor=actor)


# Manual changes


async def override_due(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    row: SlaClock,
    *,
    due_at: datetime | None,
    reason: str,
    actor: str,
    at: datetime,
) -> None:
    """Fix a clock's due instant by hand, or clear the override with `due_at` None.

    The override stays through pauses and priority changes until it is cleared, and the
    timeline records who set it, why, and the due it replaced.
    """
    if row.phase == Phase.STOPPED.value:
        raise Conflict(f"the {row.metric} clock has stopped; a stopped clock's due cannot change")
    if due_at is not None:
        # Stored rows come back in UTC; the response and the timeline text use it too.
        due_at = due_at.astimezone(UTC)
    if due_at is not None and due_at <= row.started_at:
        raise InvalidInput(
            f"due_at {due_at.isoformat()} is not after the clock's start "
            f"{row.started_at.isoformat()}",
            details=[{"field": "due_at", "message": "must be after the clock started"}],
        )
    transitions = transitions_of(row)
    calendar = ctx.workspace.calendar(row.calendar)
    # A paused clock stores no due, so the due it replaces is the one the SLA view shows:
    # the override, else the due the clock would have if it resumed now.
    old_due = row.due_override_at or measure(transitions, calendar, _target(row), at).due
    row.due_override_at = due_at
    project(session, row, transitions, calendar, at, ladder_for(ctx, row, ticket))
    if row.task_id is not None:
        task = await session.get(Task, row.task_id)
        if task is not None:
            task.due_at = row.due_at
    old_text = old_due.isoformat() if old_due else "none"
    if due_at is None:
        kind = "sla.due_override_cleared"
        message = (
            f"{row.metric} due override cleared ({reason}); due is {_instant_text(row.due_at)}"
        )
    else:
        kind = "sla.due_overridden"
        message = f"{row.metric} due set by hand to {due_at.isoformat()} (was {old_text}): {reason}"
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=row.task_id,
        clock_id=row.id,
        at=at,
        kind=kind,
        actor=actor,
        message=message,
        data={"from": old_text, "to": _instant_text(row.due_at), "reason": reason},
    )


def _instant_text(instant: datetime | None) -> str:
    return instant.isoformat() if instant is not None else "none (paused)"
