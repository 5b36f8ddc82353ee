"""The values rule conditions test: the ticket's fields and, for an event about a task, the task's.

Conditions see the ticket and the task as they are when the rule runs, not as the event's
payload describes them, so a rule acts on the current state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.automation.schema import CONDITION_FIELDS, TASK_FIELD_PREFIX
from opsdesk.context import Context
from opsdesk.errors import NotFound
from opsdesk.events.catalog import TASK_EVENT_TYPES
from opsdesk.tasks.models import Task
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import TASK_PREFIX, parse_reference
from opsdesk.users.models import User

TASK_FIELDS: tuple[str, ...] = tuple(
    name for name in CONDITION_FIELDS if name.startswith(TASK_FIELD_PREFIX)
)


def ticket_facts(
    ctx: Context, ticket: Ticket, *, at: datetime, assignee_email: str | None
) -> dict[str, Any]:
    """The fields rule conditions can test, as plain values."""
    policy = ctx.workspace.policy(ticket.sla_policy)
    calendar = ctx.workspace.calendar(ctx.workspace.policy_calendar_key(policy))
    return {
        "status": ticket.status,
        "priority": ticket.priority,
        "service_type": ticket.service_type,
        "pipeline": ticket.pipeline,
        "contact_method": ticket.contact_method,
        "channel": ticket.channel,
        "team": ticket.team,
        "tags": list(ticket.tags),
        "subject": ticket.subject,
        "description": ticket.description,
        "assignee": assignee_email,
        "requester_email": ticket.requester_email,
        "business_hours": calendar.is_working(at),
    }


def task_facts(task: Task | None, *, assignee_email: str | None) -> dict[str, Any]:
    """Return the `task.` fields of `task`, all None when the event is not about a task."""
    if task is None:
        return dict.fromkeys(TASK_FIELDS)
    return {
        "task.stage": task.stage,
        "task.pipeline": task.pipeline,
        "task.priority": task.priority,
        "task.team": task.team,
        "task.assignee": assignee_email,
        "task.template": task.template,
    }


def task_number_of_event(event_type: str, payload: Mapping[str, Any]) -> int | None:
    """Return the id of the task an event is about, or None for an event about the ticket.

    Task events name their task in `reference`; SLA and escalation events name the task of
    an operational clock in `task` and carry null there for a ticket's own clock.
    """
    if event_type not in TASK_EVENT_TYPES:
        return None
    key = "reference" if event_type.startswith("task.") else "task"
    reference = payload.get(key)
    if not isinstance(reference, str):
        return None
    try:
        return parse_reference(TASK_PREFIX, reference, what="task")
    except NotFound:
        return None


async def event_facts(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    event_type: str,
    payload: Mapping[str, Any],
    at: datetime,
) -> tuple[dict[str, Any], Task | None]:
    """Return the facts of the ticket and of the task the event is about, and that task.

    A task that was deleted since the event leaves the `task.` fields without values.
    """
    number = task_number_of_event(event_type, payload)
    task = await session.get(Task, number) if number is not None else None
    if task is not None and task.ticket_id != ticket.id:
        task = None
    facts = await facts_without_task(session, ctx, ticket, at=at)
    task_assignee = await _email_of(session, task.assignee_id) if task is not None else None
    return facts | task_facts(task, assignee_email=task_assignee), task


async def facts_without_task(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, at: datetime
) -> dict[str, Any]:
    """Return the ticket's facts, with the `task.` fields present and without values."""
    assignee_email = await _email_of(session, ticket.assignee_id)
    return ticket_facts(ctx, ticket, at=at, assignee_email=assignee_email) | task_facts(
        None, assignee_email=None
    )


async def _email_of(session: AsyncSession, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    user = await session.get(User, user_id)
    return user.email if user is not None else None
