"""Bring open clocks up to date after the workspace's SLA definitions change.

When the workspace file changes a policy's targets, the policy conditions, a pipeline's
operational targets or a calendar, clocks that are still open are computed again from
their recorded history with the new definitions. Each clock whose due moves or whose
target changes gets a timeline entry saying what changed. Stopped clocks keep the values
they ended with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.engine import Phase
from opsdesk.sla.models import SlaClock
from opsdesk.sla.policies import format_span, rules_for
from opsdesk.sla.rules import Metric
from opsdesk.sla.service import OPERATIONAL, ladder_for, project, transitions_of
from opsdesk.tasks.models import Task
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.workspace.models import WorkspaceState

logger = logging.getLogger(__name__)

FINGERPRINT_KEY = "sla_fingerprint"
WORKSPACE_CHANGED = "after a workspace change"
BATCH = 500


@dataclass
class RecomputeSummary:
    tickets_checked: int = 0
    clocks_changed: int = 0
    policies_switched: int = 0
    skipped_unchanged_workspace: bool = False
    causes: dict[str, int] = field(default_factory=dict)


def _describe_due(due: datetime | None) -> str:
    return due.isoformat() if due is not None else "none (paused)"


def _edit_causes(
    old_definition: str | None, definition: str, old_calendar: str, calendar_key: str, owner: str
) -> tuple[str | None, str]:
    """Return the calendar change of a recomputed clock (or None) and the edit of its owner.

    `owner` is the policy or pipeline, such as "policy standard". The caller names the
    owner's edit only when no more precise cause applies. A definition is "<owner
    fingerprint>:<calendar fingerprint>". A row computed before definitions were stored
    has None, and then which of the two changed is unknown.
    """
    if old_calendar != calendar_key:
        return f"calendar {old_calendar} replaced by {calendar_key}", f"{owner} edited"
    if old_definition is None:
        return None, f"{owner} or calendar {calendar_key} edited"
    if old_definition.partition(":")[2] != definition.partition(":")[2]:
        return f"calendar {calendar_key} edited", f"{owner} edited"
    return None, f"{owner} edited"


async def recompute_ticket(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    at: datetime,
    because: str,
    summary: RecomputeSummary | None = None,
) -> RecomputeSummary:
    """Choose the ticket's policy again and recompute its open clocks if anything changed.

    `because` says why, for the timeline: "after a workspace change", "contact method
    changed to site_visit" and so on.
    """
    summary = summary or RecomputeSummary()
    workspace = ctx.workspace
    selected = workspace.select_policy(ticket.facts())
    switched_from = None
    if selected.key != ticket.sla_policy:
        switched_from = ticket.sla_policy
        ticket.sla_policy = selected.key
        summary.policies_switched += 1
        timeline.record(
            session,
            ticket_id=ticket.id,
            at=at,
            kind="sla.policy_changed",
            message=f"SLA policy changed from {switched_from} to {selected.key}: {because}",
            data={"from": switched_from, "to": selected.key},
        )
    rules = rules_for(selected)
    calendar_key = workspace.policy_calendar_key(selected)
    definition = workspace.clock_definition(policy=selected)
    rows: list[SlaClock] = await ticket.awaitable_attrs.clocks
    for row in rows:
        if row.phase == Phase.STOPPED.value or row.definition == definition:
            continue
        old_due, old_target, old_calendar = row.due_at, row.target_seconds, row.calendar
        old_definition = row.definition
        target = rules.target(Metric(row.metric), ticket.priority)
        row.policy = selected.key
        row.calendar = calendar_key
        row.warning_fraction = selected.warning_at
        row.target_seconds = None if target is None else int(target.total_seconds())
        row.definition = definition
        project(
            session,
            row,
            transitions_of(row),
            workspace.calendar(calendar_key),
            at,
            ladder_for(ctx, row, ticket),
        )
        causes = []
        if switched_from is not None:
            causes.append(f"policy {switched_from} replaced by {selected.key}")
        if old_target != row.target_seconds:
            old_span = format_span(None if old_target is None else timedelta(seconds=old_target))
            causes.append(f"target {old_span} became {format_span(target)}")
        calendar_cause, policy_cause = _edit_causes(
            old_definition, definition, old_calendar, calendar_key, f"policy {selected.key}"
        )
        if calendar_cause is not None:
            causes.append(calendar_cause)
        if not causes:
            causes.append(policy_cause)
        _note(session, summary, row, ticket.id, None, at, old_due, old_target, causes, because)
    return summary


async def _recompute_task(
    session: AsyncSession, ctx: Context, row: SlaClock, summary: RecomputeSummary, at: datetime
) -> None:
    workspace = ctx.workspace
    task = await session.get(Task, row.task_id)
    if task is None:
        return
    pipeline = workspace.pipeline(task.pipeline)
    definition = workspace.clock_definition(pipeline=pipeline)
    if row.definition == definition:
        return
    old_due, old_target, old_calendar = row.due_at, row.target_seconds, row.calendar
    old_definition = row.definition
    operational = pipeline.operational_sla
    target = None if operational is None else operational.targets.get(task.priority)
    calendar_key = workspace.pipeline_calendar_key(pipeline)
    row.calendar = calendar_key
    row.target_seconds = None if target is None else int(target.total_seconds())
    if operational is not None:
        row.warning_fraction = operational.warning_at
    row.definition = definition
    ticket = await session.get(Ticket, task.ticket_id)
    ladder = ladder_for(ctx, row, ticket) if ticket is not None else []
    project(session, row, transitions_of(row), workspace.calendar(calendar_key), at, ladder)
    task.due_at = row.due_at

    causes = []
    if old_target != row.target_seconds:
        old_span = format_span(None if old_target is None else timedelta(seconds=old_target))
        causes.append(f"target {old_span} became {format_span(target)}")
    calendar_cause, pipeline_cause = _edit_causes(
        old_definition, definition, old_calendar, calendar_key, f"pipeline {pipeline.key}"
    )
    if calendar_cause is not None:
        causes.append(calendar_cause)
    if not causes:
        causes.append(pipeline_cause)
    _note(
        session,
        summary,
        row,
        task.ticket_id,
        task.id,
        at,
        old_due,
        old_target,
        causes,
        WORKSPACE_CHANGED,
    )


def _note(
    session: AsyncSession,
    summary: RecomputeSummary,
    row: SlaClock,
    ticket_id: int,
    task_id: int | None,
    at: datetime,
    old_due: datetime | None,
    old_target: int | None,
    causes: list[str],
    because: str,
) -> None:
    """Record a recomputed clock whose due moved or whose target changed.

    A paused clock stores no due and a due set by hand stays, so for those only a changed
    target shows that the clock was recomputed.
    """
    if old_due == row.due_at and old_target == row.target_seconds:
        return
    if old_due == row.due_at:
        outcome = f"due unchanged: {_describe_due(row.due_at)}"
    else:
        outcome = f"due moved from {_describe_due(old_due)} to {_describe_due(row.due_at)}"
    summary.clocks_changed += 1
    for cause in causes:
        summary.causes[cause] = summary.causes.get(cause, 0) + 1
    timeline.record(
        session,
        ticket_id=ticket_id,
        task_id=task_id,
        clock_id=row.id,
        at=at,
        kind="sla.recomputed",
        message=f"{row.metric} recomputed {because} ({'; '.join(causes)}): {outcome}",
        data={"causes": causes, "from": _describe_due(old_due), "to": _describe_due(row.due_at)},
    )


async def recompute_open_clocks(
    db: Database, ctx: Context, *, force: bool = False
) -> RecomputeSummary:
    """Recompute every open clock whose definition changed since it was last computed.

    The workspace's SLA fingerprint is stored once everything is done, so the next start
    with the same file skips the scan. Tickets are handled in batches, each in its own
    transaction with the ticket rows locked.
    """
    summary = RecomputeSummary()
    current = ctx.workspace.sla_fingerprint
    async with db.read() as session:
        stored = await session.get(WorkspaceState, FINGERPRINT_KEY)
        if stored is not None and stored.value == current and not force:
            summary.skipped_unchanged_workspace = True
            return summary
    at = ctx.clock.now()

    last_id = 0
    while True:
        async with db.transaction() as session:
            ticket_ids = list(
                (
                    await session.execute(
                        select(SlaClock.ticket_id)
                        .where(SlaClock.phase != Phase.STOPPED.value, SlaClock.ticket_id > last_id)
                        .group_by(SlaClock.ticket_id)
                        .order_by(SlaClock.ticket_id)
                        .limit(BATCH)
                    )
                ).scalars()
            )
            if not ticket_ids:
                break
            tickets = (
                await session.execute(
                    select(Ticket)
                    .where(Ticket.id.in_(ticket_ids))
                    .order_by(Ticket.id)
                    .with_for_update()
                )
            ).scalars()
            for ticket in tickets:
                summary.tickets_checked += 1
                await recompute_ticket(
                    session, ctx, ticket, at=at, because=WORKSPACE_CHANGED, summary=summary
                )
            task_clocks = (
                await session.execute(
                    select(SlaClock).where(
                        SlaClock.ticket_id.in_(ticket_ids),
                        SlaClock.metric == OPERATIONAL,
                        SlaClock.phase != Phase.STOPPED.value,
                    )
                )
            ).scalars()
            for row in task_clocks:
                await _recompute_task(session, ctx, row, summary, at)
            last_id = ticket_ids[-1]

    try:
        async with db.transaction() as session:
            state = await session.get(WorkspaceState, FINGERPRINT_KEY, with_for_update=True)
            if state is None:
                session.add(WorkspaceState(key=FINGERPRINT_KEY, value=current, updated_at=at))
            else:
                state.value = current
                state.updated_at = at
    except IntegrityError:
        # Another process started with the same file at the same moment and stored it.
        logger.info("SLA fingerprint stored by another process")
    logger.info(
        "recomputed SLA clocks: %d tickets checked, %d clocks moved, %d policies switched",
        summary.tickets_checked,
        summary.clocks_changed,
        summary.policies_switched,
    )
    return summary
