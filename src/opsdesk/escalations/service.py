"""Run the workspace's escalation actions for a clock that warned or breached.

Each escalation runs at most once per clock and level: the clock row is locked by the
caller, an existing firing row skips it, and a unique constraint on (clock, level) stops a
duplicate that got past both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.escalations.acknowledge import ack_token, link_secret
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.service import emit
from opsdesk.notifications.service import notify_users, write_notifications
from opsdesk.sla import service as sla
from opsdesk.sla.models import SlaClock
from opsdesk.tasks import service as tasks
from opsdesk.tasks.models import Task
from opsdesk.tickets import service as tickets
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.users.models import User
from opsdesk.users.service import users_with
from opsdesk.workspace.schema import (
    AddNote,
    Escalation,
    EscalationAction,
    Notify,
    RaisePriority,
    Reassign,
    SetPriority,
    SetStatus,
)

Level = Literal["warning", "breach"]


async def run_escalations(
    session: AsyncSession,
    ctx: Context,
    *,
    on: Level,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    at: datetime,
) -> list[str]:
    """Run every single-step escalation on `on` for this clock; return their keys."""
    facts = tickets.facts_of(ticket)
    fired: list[str] = []
    for escalation in ctx.workspace.escalations_for(on, clock.metric, facts):
        assert escalation.actions is not None
        await run_step(
            session,
            ctx,
            escalation=escalation,
            actions=escalation.actions,
            level=on,
            firing_key=f"{on}:{escalation.key}",
            clock=clock,
            ticket=ticket,
            task=task,
            at=at,
        )
        fired.append(escalation.key)
    return fired


async def run_step(
    session: AsyncSession,
    ctx: Context,
    *,
    escalation: Escalation,
    actions: Sequence[EscalationAction],
    level: str,
    firing_key: str,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    at: datetime,
) -> str:
    """Run one escalation step's actions, record it on the timeline and emit the event.

    `firing_key` names the step for this clock ("breach:notify_boss", or a ladder level
    with its repetition); a unique constraint on (clock, firing_key) makes a duplicate
    firing fail on commit, whatever the caller checked before.
    """
    session.add(EscalationFiring(clock_id=clock.id, level=firing_key, fired_at=at))
    outcomes = []
    notified: list[str] = []
    for action in actions:
        outcome, people = await _run_action(
            session, ctx, escalation, action, clock, ticket, task, at
        )
        outcomes.append(outcome)
        notified.extend(people)
    summary = "; ".join(outcome for outcome in outcomes if outcome)
    reference = tickets.reference_of(ctx, ticket)
    secret = await link_secret(session, ctx)
    acknowledge_url = f"{ctx.settings.base_url}/ack/{ack_token(secret, clock.id, now=at)}"
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id if task else None,
        clock_id=clock.id,
        at=at,
        kind="escalation.triggered",
        actor=f"escalation:{escalation.key}",
        message=f"Escalation {escalation.name!r} ran at {level} of {clock.metric}: {summary}",
        data={
            "escalation": escalation.key,
            "level": level,
            "metric": clock.metric,
            "notified": notified,
        },
    )
    event_id = emit(
        session,
        type="escalation.triggered",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference,
            "escalation": escalation.key,
            "name": escalation.name,
            "level": level,
            "metric": clock.metric,
            "cycle": clock.cycle,
            "task": tasks.task_reference(task) if task else None,
            "summary": summary,
            "notified": notified,
            "priority": ticket.priority,
            "acknowledge_url": acknowledge_url,
        },
    )
    await write_notifications(session, ctx, event_id=event_id)
    return summary


async def _run_action(
    session: AsyncSession,
    ctx: Context,
    escalation: Escalation,
    action: EscalationAction,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    at: datetime,
) -> tuple[str, list[str]]:
    """Apply one action and return a phrase for the timeline and the people notified."""
    actor = f"escalation:{escalation.key}"
    reason = f"escalation {escalation.key}"
    match action:
        case RaisePriority() | SetPriority():
            current = task.priority if task is not None else ticket.priority
            if isinstance(action, RaisePriority):
                new = ctx.workspace.raise_priority(current, action.steps)
            else:
                new = action.priority
            if new == current:
                return f"priority already {current}", []
            if task is not None:
                task.priority = new
                task.updated_at = at
                await sla.on_task_priority(
                    session, ctx, task, ticket, at=at, cause=f"{reason} raised priority to {new}"
                )
                return f"task priority raised from {current} to {new}", []
            await tickets.change_priority(
                session, ctx, ticket, priority=new, actor=actor, at=at, reason=reason
            )
            return f"priority raised from {current} to {new}", []
        case Reassign():
            assignee = None
            if action.user is not None:
                found = await users_with(session, email=action.user)
                if not found:
                    return f"reassign skipped: no active user {action.user}", []
                assignee = found[0]
            if task is not None:
                await tasks.assign_task(
                    session,
                    ctx,
                    task,
                    ticket,
                    actor=actor,
                    assignee=assignee,
                    team=action.team,
                    at=at,
                )
            else:
                await tickets.assign(
                    session,
                    ctx,
                    ticket,
                    actor=actor,
                    team=action.team,
                    assignee=assignee,
                    at=at,
                    reason=reason,
                )
            return f"reassigned to {action.user or 'team ' + str(action.team)}", []
        case SetStatus():
            changed = await tickets.change_status(
                session, ctx, ticket, status=action.status, actor=actor, at=at, reason=reason
            )
            return (
                f"status set to {action.status}" if changed else f"status already {action.status}",
                [],
            )
        case AddNote():
            await tickets.add_agent_reply(
                session, ctx, ticket, author=None, body=action.text, public=False, at=at
            )
            return "note added", []
        case Notify():
            return await _notify(session, ctx, escalation, action, clock, ticket, task, at)
    raise AssertionError(f"unhandled escalation action {action!r}")


async def _notify(
    session: AsyncSession,
    ctx: Context,
    escalation: Escalation,
    action: Notify,
    clock: SlaClock,
    ticket: Ticket,
    task: Task | None,
    at: datetime,
) -> tuple[str, list[str]]:
    users: dict[int, User] = {}
    if action.role is not None:
        users |= {user.id: user for user in await users_with(session, role=action.role)}
    if action.team is not None:
        users |= {user.id: user for user in await users_with(session, team=action.team)}
    if action.user is not None:
        users |= {user.id: user for user in await users_with(session, email=action.user)}
    reference = tickets.reference_of(ctx, ticket)
    what = f"task {tasks.task_reference(task)} of {reference}" if task else reference
    title = f"{escalation.name}: {clock.metric.replace('_', ' ')} of {what}"
    due = clock.due_at.isoformat() if clock.due_at else "no due instant"
    secret = await link_secret(session, ctx)
    acknowledge_url = f"{ctx.settings.base_url}/ack/{ack_token(secret, clock.id, now=at)}"
    body = (action.message or f"{ticket.subject} (priority {ticket.priority}); due {due}.") + (
        f" Acknowledge: {acknowledge_url}"
    )
    notify_users(
        session,
        users=list(users.values()),
        kind=f"escalation.{escalation.key}",
        title=title,
        body=body,
        at=at,
        ticket_id=ticket.id,
        task_id=task.id if task else None,
    )
    emails = [user.email for user in users.values()]
    target = action.role or action.team or action.user
    if not emails:
        return f"nobody to notify for {target}", []
    return f"notified {len(emails)} {target}(s)", emails
