"""Run automation rules against tickets: the actions, assignment and wait timers.

A rule's actions go through the same ticket and task services as a person's, inside the
caller's transaction. While a rule acts, the events its actions cause carry the rule's
key and the chain depth (see `opsdesk.automation.engine`), so the rule is not triggered
by its own changes and chains end.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.automation.engine import Cause
from opsdesk.automation.models import AssignmentCursor
from opsdesk.automation.schema import (
    AddTag,
    AssignToTeam,
    CallWebhook,
    CreateTask,
    EmailCustomer,
    Rule,
    RuleAction,
    RuleNote,
    RuleNotify,
    SetField,
)
from opsdesk.context import Context
from opsdesk.events.service import CAUSE_KEY, emit
from opsdesk.notifications.service import notify_users, write_notifications
from opsdesk.tasks import service as tasks
from opsdesk.tasks.models import Task
from opsdesk.tickets import service as tickets
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.users.models import TeamMember, User
from opsdesk.users.service import users_with
from opsdesk.workspace.schema import TicketStatus

logger = logging.getLogger(__name__)

OPEN_STATUSES = [
    status.value
    for status in TicketStatus
    if status not in {TicketStatus.RESOLVED, TicketStatus.CLOSED}
]
RULE_CACHE_SECONDS = 5.0


@contextmanager
def acting_as(session: AsyncSession, cause: Cause) -> Iterator[None]:
    """Mark every event emitted inside the block as caused by `cause`."""
    info = session.sync_session.info
    previous = info.get(CAUSE_KEY)
    info[CAUSE_KEY] = cause.to_dict()
    try:
        yield
    finally:
        if previous is None:
            info.pop(CAUSE_KEY, None)
        else:
            info[CAUSE_KEY] = previous


async def run_rule(
    session: AsyncSession,
    ctx: Context,
    rule: Rule,
    ticket: Ticket,
    *,
    trigger: str,
    cause: Cause,
    at: datetime,
    task: Task | None = None,
) -> list[str]:
    """Apply the rule's actions to the ticket and record the run; return one phrase per action.

    `task` is the task the triggering event is about; the run's timeline entry names it.
    """
    actor = f"rule:{rule.key}"
    own = Cause(rule=rule.key, depth=cause.depth + 1)
    outcomes: list[str] = []
    deliver_to: list[str] = []
    with acting_as(session, own):
        for action in rule.actions:
            if isinstance(action, CallWebhook):
                deliver_to.append(action.subscription)
                outcomes.append(f"webhook {action.subscription} called")
                continue
            outcomes.append(await _apply(session, ctx, rule, action, ticket, actor=actor, at=at))
        reference = tickets.reference_of(ctx, ticket)
        event_id = emit(
            session,
            type="automation.rule_ran",
            at=at,
            ticket_id=ticket.id,
            data={
                "reference": reference,
                "rule": rule.key,
                "name": rule.name,
                "trigger": trigger,
                "outcomes": outcomes,
                "deliver_to": deliver_to,
            },
        )
        await write_notifications(session, ctx, event_id=event_id)
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id if task is not None else None,
        at=at,
        kind="rule.ran",
        actor=actor,
        message=f"Rule {rule.name!r} ran on {trigger}: {'; '.join(outcomes)}",
        data={"rule": rule.key, "trigger": trigger, "outcomes": outcomes, "depth": own.depth},
    )
    return outcomes


async def _apply(
    session: AsyncSession,
    ctx: Context,
    rule: Rule,
    action: RuleAction,
    ticket: Ticket,
    *,
    actor: str,
    at: datetime,
) -> str:
    reason = f"rule {rule.name}"
    match action:
        case SetField(field="status"):
            changed = await tickets.change_status(
                session, ctx, ticket, status=action.value, actor=actor, at=at, reason=reason
            )
            return f"status set to {action.value}" if changed else f"status already {action.value}"
        case SetField(field="priority"):
            changed = await tickets.change_priority(
                session, ctx, ticket, priority=action.value, actor=actor, at=at, reason=reason
            )
            return (
                f"priority set to {action.value}" if changed else f"priority already {action.value}"
            )
        case SetField(field="team"):
            await tickets.assign(
                session, ctx, ticket, actor=actor, team=action.value, at=at, reason=reason
            )
            return f"team set to {action.value}"
        case AssignToTeam():
            user = await pick_assignee(session, team=action.team, strategy=action.strategy, at=at)
            if user is None:
                return f"nobody in team {action.team} is available to assign"
            await tickets.assign(
                session,
                ctx,
                ticket,
                actor=actor,
                team=action.team,
                assignee=user,
                at=at,
                reason=reason,
            )
            return f"assigned to {user.email} ({action.strategy.replace('_', ' ')})"
        case AddTag():
            added = await tickets.add_tag(session, ctx, ticket, tag=action.tag, actor=actor, at=at)
            return f"tag {action.tag} added" if added else f"tag {action.tag} already set"
        case CreateTask():
            task = await tasks.create_task_from_template(
                session, ctx, ticket, template_key=action.template, actor=actor, at=at
            )
            return f"task {tasks.task_reference(task)} created"
        case RuleNote():
            await tickets.add_agent_reply(
                session, ctx, ticket, author=None, body=action.text, public=False, at=at
            )
            return "note added"
        case RuleNotify():
            found: dict[int, User] = {}
            if action.role is not None:
                found |= {user.id: user for user in await users_with(session, role=action.role)}
            if action.team is not None:
                found |= {user.id: user for user in await users_with(session, team=action.team)}
            if action.user is not None:
                found |= {user.id: user for user in await users_with(session, email=action.user)}
            reference = tickets.reference_of(ctx, ticket)
            notify_users(
                session,
                users=list(found.values()),
                kind=f"rule.{rule.key}",
                title=f"{rule.name}: {reference}",
                body=action.message or ticket.subject,
                at=at,
                ticket_id=ticket.id,
            )
            return f"notified {len(found)} user(s)"
        case EmailCustomer():
            if not ticket.requester_email:
                return "no e-mail sent: the requester has no e-mail address"
            await tickets.add_system_message(
                session, ctx, ticket, body=action.text, actor=actor, at=at
            )
            return "e-mail to the customer queued"
    raise AssertionError(f"unhandled rule action {action!r}")


async def pick_assignee(
    session: AsyncSession, *, team: str, strategy: str, at: datetime
) -> User | None:
    """Choose a member of `team` who is active and not away.

    round_robin takes the member after the one chosen last time (by user id, wrapping
    around); least_loaded takes the member with the fewest open tickets, then the lowest id.
    """
    members = list(
        (
            await session.execute(
                select(User)
                .join(TeamMember, TeamMember.user_id == User.id)
                .where(
                    TeamMember.team == team,
                    User.active.is_(True),
                    (User.away_until.is_(None)) | (User.away_until <= at),
                )
                .order_by(User.id)
            )
        ).scalars()
    )
    if not members:
        return None
    if strategy == "least_loaded":
        loads = dict(
            (
                await session.execute(
                    select(Ticket.assignee_id, func.count(Ticket.id))
                    .where(
                        Ticket.assignee_id.in_([member.id for member in members]),
                        Ticket.status.in_(OPEN_STATUSES),
                    )
                    .group_by(Ticket.assignee_id)
                )
            ).all()
        )
        return min(members, key=lambda member: (loads.get(member.id, 0), member.id))
    cursor = await session.get(AssignmentCursor, team, with_for_update=True)
    last = cursor.last_user_id if cursor is not None else None
    chosen = next((member for member in members if last is None or member.id > last), members[0])
    if cursor is None:
        session.add(AssignmentCursor(team=team, last_user_id=chosen.id))
    else:
        cursor.last_user_id = chosen.id
    return chosen
