"""Read models of tickets for the API: lists with filters, the full ticket, the customer view."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from opsdesk.context import Context
from opsdesk.db import MAX_ROW_ID
from opsdesk.errors import InvalidInput
from opsdesk.sla.models import SlaClock
from opsdesk.sla.reading import clock_view, resolution_risks
from opsdesk.tasks.models import Task
from opsdesk.tasks.service import task_reference
from opsdesk.tickets.models import Ticket, TicketMessage, TimelineEntry
from opsdesk.tickets.schemas import (
    MessageView,
    PublicMessage,
    PublicStatus,
    TaskSummary,
    TicketDetail,
    TicketPage,
    TicketSummary,
    TimelineView,
)
from opsdesk.tickets.service import reference_of
from opsdesk.users.models import User

MAX_PAGE = 200


@dataclass(frozen=True)
class TicketFilters:
    status: list[str] | None = None
    priority: list[str] | None = None
    service_type: str | None = None
    pipeline: str | None = None
    team: str | None = None
    assignee_email: str | None = None
    breached: bool | None = None
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


def encode_cursor(ticket_id: int) -> str:
    return base64.urlsafe_b64encode(str(ticket_id).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        row_id = int(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode())
    except (ValueError, UnicodeDecodeError):
        row_id = None
    # A cursor is a row id, so anything outside the key range was not made by encode_cursor.
    if row_id is None or not 1 <= row_id <= MAX_ROW_ID:
        raise InvalidInput(
            f"invalid cursor {cursor!r}; pass the next_cursor value of the previous page",
            details=[{"field": "cursor", "message": "invalid cursor"}],
        )
    return row_id


def _apply_filters(query: Select[Ticket], filters: TicketFilters) -> Select[Ticket]:
    if filters.status:
        query = query.where(Ticket.status.in_(filters.status))
    if filters.priority:
        query = query.where(Ticket.priority.in_(filters.priority))
    if filters.service_type:
        query = query.where(Ticket.service_type == filters.service_type)
    if filters.pipeline:
        query = query.where(Ticket.pipeline == filters.pipeline)
    if filters.team:
        query = query.where(Ticket.team == filters.team)
    if filters.assignee_email:
        assignee = aliased(User)
        query = query.join(assignee, assignee.id == Ticket.assignee_id).where(
            assignee.email == filters.assignee_email.lower()
        )
    if filters.breached is not None:
        # The ticket's own clocks only, as in the `breached` flag of each item: a late task
        # shows on its operational clock, not on the ticket.
        breached = exists().where(
            SlaClock.ticket_id == Ticket.id,
            SlaClock.task_id.is_(None),
            SlaClock.breached_at.is_not(None),
        )
        query = query.where(breached if filters.breached else ~breached)
    if filters.q:
        # autoescape makes % and _ in the search text match themselves.
        text = filters.q.lower()
        query = query.where(
            or_(
                func.lower(Ticket.subject).contains(text, autoescape=True),
                func.lower(Ticket.requester_name).contains(text, autoescape=True),
            )
        )
    if filters.created_after:
        query = query.where(Ticket.created_at >= filters.created_after)
    if filters.created_before:
        query = query.where(Ticket.created_at < filters.created_before)
    return query


async def _emails(session: AsyncSession, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))
    return {user_id: email for user_id, email in rows}


async def _ticket_dues(
    session: AsyncSession, ticket_ids: list[int]
) -> dict[int, dict[str, SlaClock]]:
    dues: dict[int, dict[str, SlaClock]] = {ticket_id: {} for ticket_id in ticket_ids}
    if not ticket_ids:
        return dues
    rows = await session.execute(
        select(SlaClock)
        .where(
            SlaClock.ticket_id.in_(ticket_ids),
            SlaClock.task_id.is_(None),
            SlaClock.metric.in_(["first_response", "resolution"]),
        )
        .order_by(SlaClock.id)
    )
    for clock in rows.scalars():
        dues[clock.ticket_id][clock.metric] = clock
    return dues


def _summary(
    ctx: Context, ticket: Ticket, clocks: dict[str, SlaClock], emails: dict[int, str]
) -> dict[str, object]:
    first = clocks.get("first_response")
    resolution = clocks.get("resolution")
    return {
        "reference": reference_of(ctx, ticket),
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "service_type": ticket.service_type,
        "pipeline": ticket.pipeline,
        "contact_method": ticket.contact_method,
        "channel": ticket.channel,
        "team": ticket.team,
        "assignee_email": emails.get(ticket.assignee_id) if ticket.assignee_id else None,
        "requester_name": ticket.requester_name,
        "requester_email": ticket.requester_email,
        "created_at": ticket.created_at,
        "updated_at": ticket.updated_at,
        "first_response_due": first.due_at if first else None,
        "resolution_due": resolution.due_at if resolution else None,
        "breached": any(clock.breached_at is not None for clock in clocks.values()),
    }


async def list_tickets(
    session: AsyncSession,
    ctx: Context,
    filters: TicketFilters,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> TicketPage:
    """Newest first, keyset-paginated by ticket id so pages stay stable while tickets arrive."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(
            f"limit must be between 1 and {MAX_PAGE}, got {limit}",
            details=[{"field": "limit", "message": f"must be between 1 and {MAX_PAGE}"}],
        )
    query = _apply_filters(select(Ticket), filters)
    if cursor:
        query = query.where(Ticket.id < decode_cursor(cursor))
    result = await session.execute(query.order_by(Ticket.id.desc()).limit(limit + 1))
    tickets: list[Ticket] = list(result.scalars())
    more = len(tickets) > limit
    tickets = tickets[:limit]
    dues = await _ticket_dues(session, [ticket.id for ticket in tickets])
    emails = await _emails(
        session, {ticket.assignee_id for ticket in tickets if ticket.assignee_id}
    )
    items = [
        TicketSummary.model_validate(_summary(ctx, ticket, dues[ticket.id], emails))
        for ticket in tickets
    ]
    return TicketPage(
        items=items, next_cursor=encode_cursor(tickets[-1].id) if more and tickets else None
    )


async def ticket_detail(session: AsyncSession, ctx: Context, ticket: Ticket) -> TicketDetail:
    now = ctx.clock.now()
    clocks = list(
        (
            await session.execute(
                select(SlaClock).where(SlaClock.ticket_id == ticket.id).order_by(SlaClock.id)
            )
        ).scalars()
    )
    tasks = list(
        (
            await session.execute(select(Task).where(Task.ticket_id == ticket.id).order_by(Task.id))
        ).scalars()
    )
    messages = list(
        (
            await session.execute(
                select(TicketMessage)
                .where(TicketMessage.ticket_id == ticket.id)
                .order_by(TicketMessage.id)
            )
        ).scalars()
    )
    entries = list(
        (
            await session.execute(
                select(TimelineEntry)
                .where(TimelineEntry.ticket_id == ticket.id)
                .order_by(TimelineEntry.at, TimelineEntry.id)
            )
        ).scalars()
    )
    user_ids = {message.author_user_id for message in messages if message.author_user_id}
    user_ids |= {task.assignee_id for task in tasks if task.assignee_id}
    if ticket.assignee_id:
        user_ids.add(ticket.assignee_id)
    emails = await _emails(session, user_ids)
    task_refs = {task.id: task_reference(task) for task in tasks}
    by_metric = {
        clock.metric: clock for clock in clocks if clock.task_id is None and clock.cycle == 0
    }
    summary = _summary(ctx, ticket, by_metric, emails)
    summary["breached"] = any(
        clock.breached_at is not None for clock in clocks if clock.task_id is None
    )
    clock_views = [
        clock_view(
            clock,
            ctx.workspace.calendar(clock.calendar),
            now=now,
            task=task_refs.get(clock.task_id) if clock.task_id else None,
        )
        for clock in clocks
    ]
    tasks_by_id = {task.id: task for task in tasks}
    resolution = next(
        (
            view
            for clock, view in zip(clocks, clock_views, strict=True)
            if clock.task_id is None and clock.metric == "resolution"
        ),
        None,
    )
    task_clocks = [
        (tasks_by_id[clock.task_id], task_refs[clock.task_id], view)
        for clock, view in zip(clocks, clock_views, strict=True)
        if clock.task_id is not None and clock.task_id in tasks_by_id
    ]
    return TicketDetail.model_validate(
        summary
        | {
            "description": ticket.description,
            "requester_phone": ticket.requester_phone,
            "site_address": ticket.site_address,
            "sla_policy": ticket.sla_policy,
            "external_ref": ticket.external_ref,
            "first_response_at": ticket.first_response_at,
            "resolved_at": ticket.resolved_at,
            "closed_at": ticket.closed_at,
            "clocks": clock_views,
            "resolution_risks": resolution_risks(resolution, task_clocks),
            "tasks": [
                TaskSummary(
                    reference=task_refs[task.id],
                    title=task.title,
                    pipeline=task.pipeline,
                    stage=task.stage,
                    priority=task.priority,
                    team=task.team,
                    assignee_email=emails.get(task.assignee_id) if task.assignee_id else None,
                    due_at=task.due_at,
                    completed_at=task.completed_at,
                )
                for task in tasks
            ],
            "messages": [
                MessageView(
                    id=message.id,
                    author_kind=message.author_kind,
                    author_email=emails.get(message.author_user_id)
                    if message.author_user_id
                    else None,
                    public=message.public,
                    body=message.body,
                    created_at=message.created_at,
                )
                for message in messages
            ],
            "timeline": [
                TimelineView(
                    at=entry.at,
                    kind=entry.kind,
                    actor=entry.actor,
                    message=entry.message,
                    task=task_refs.get(entry.task_id) if entry.task_id else None,
                    clock_id=entry.clock_id,
                    data=entry.data,
                )
                for entry in entries
            ],
        }
    )


async def public_status(session: AsyncSession, ctx: Context, ticket: Ticket) -> PublicStatus:
    """Return the customer's view: no internal notes, staff names or timeline internals."""
    messages = list(
        (
            await session.execute(
                select(TicketMessage)
                .where(TicketMessage.ticket_id == ticket.id, TicketMessage.public.is_(True))
                .order_by(TicketMessage.id)
            )
        ).scalars()
    )
    dues = (await _ticket_dues(session, [ticket.id]))[ticket.id]
    first = dues.get("first_response")
    resolution = dues.get("resolution")
    return PublicStatus(
        reference=reference_of(ctx, ticket),
        subject=ticket.subject,
        status=ticket.status,
        status_name=ticket.status.replace("_", " ").capitalize(),
        service_type=ticket.service_type,
        priority=ticket.priority,
        created_at=ticket.created_at,
        first_response_due=first.due_at if first and first.phase != "stopped" else None,
        resolution_due=resolution.due_at if resolution and resolution.phase != "stopped" else None,
        messages=[
            PublicMessage(
                author="customer" if message.author_kind == "customer" else "agent",
                body=message.body,
                created_at=message.created_at,
            )
            for message in messages
        ],
    )
