"""Ticket actions: intake, replies, notes, status, priority and assignment.

Each function works inside the caller's transaction and only flushes: the action that
calls it (an API route, the replay, the worker) owns the commit.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.automation import waits
from opsdesk.context import Context
from opsdesk.db import add_row, allocate_ids, reserve_ids, table_of
from opsdesk.errors import Conflict, InvalidInput, NotFound
from opsdesk.events.models import OutboxEvent
from opsdesk.events.service import emit
from opsdesk.sla import service as sla
from opsdesk.sla.models import SlaClock
from opsdesk.sla.recompute import recompute_ticket
from opsdesk.tasks import service as tasks
from opsdesk.tasks.models import Task
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket, TicketMessage, TimelineEntry
from opsdesk.tickets.references import format_reference, parse_reference
from opsdesk.tickets.schemas import IntakeRequest
from opsdesk.users.models import User
from opsdesk.workspace import TicketFacts
from opsdesk.workspace.schema import TicketStatus

PAUSED_BY_DEFAULT = (TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.PENDING_THIRD_PARTY)
# The reason of the status change a customer's reply makes; outgoing mail skips its notice.
CUSTOMER_REPLY_REASON = "customer replied"


@dataclass(frozen=True)
class NewTicket:
    """A request as every channel hands it over: portal, widget, API, e-mail or replay."""

    name: str
    email: str | None
    phone: str | None
    service_type: str
    contact_method: str
    priority: str | None
    subject: str
    description: str
    site_address: str | None = None

    @classmethod
    def from_intake(cls, request: IntakeRequest) -> NewTicket:
        return cls(
            name=request.name,
            email=str(request.email).lower(),
            phone=request.phone,
            service_type=request.service_type,
            contact_method=request.contact_method,
            priority=request.priority,
            subject=request.subject,
            description=request.description,
            site_address=request.site_address,
        )


@dataclass(frozen=True)
class CreatedTicket:
    ticket: Ticket
    tasks: list[Task]
    clocks: list[SlaClock]
    status_token: str
    """Unguessable token of the customer's status link; only its hash is stored."""


def reference_of(ctx: Context, ticket: Ticket) -> str:
    return format_reference(ctx.workspace.spec.reference_prefix, ticket.id)


def facts_of(ticket: Ticket) -> TicketFacts:
    return ticket.facts()


def hash_status_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_intake(ctx: Context, request: NewTicket) -> str:
    """Check the request against the workspace and return its priority.

    Raises InvalidInput with one detail per offending field.
    """
    priority = request.priority or ctx.workspace.spec.default_priority
    problems = workspace_problems(
        ctx,
        service_type=request.service_type,
        contact_method=request.contact_method,
        priority=priority,
        site_address=request.site_address,
        phone=request.phone,
    )
    if problems:
        raise InvalidInput("the request has invalid fields", details=problems)
    return priority


def workspace_problems(
    ctx: Context,
    *,
    service_type: str | None,
    contact_method: str | None,
    priority: str | None,
    site_address: str | None,
    phone: str | None,
) -> list[dict[str, Any]]:
    """Return one problem per field whose value the workspace does not accept.

    A value given as None is not checked, so a caller can leave out values it could not
    read, as the handler of invalid request bodies does with values that are not strings.
    """
    workspace = ctx.workspace
    problems: list[dict[str, Any]] = []
    if service_type is not None:
        try:
            workspace.service_type(service_type)
        except InvalidInput as exc:
            problems.append({"field": "service_type", "message": exc.message})
    method = None
    if contact_method is not None:
        try:
            method = workspace.contact_method(contact_method)
        except InvalidInput as exc:
            problems.append({"field": "contact_method", "message": exc.message})
    if priority is not None:
        try:
            workspace.check_priority(priority)
        except InvalidInput as exc:
            problems.append({"field": "priority", "message": exc.message})
    if method is not None and method.requires_site_address and not site_address:
        problems.append(
            {
                "field": "site_address",
                "message": f"a site address is required for {method.name.lower()} requests",
            }
        )
    if method is not None and method.requires_phone and not phone:
        problems.append(
            {
                "field": "phone",
                "message": f"a phone number is required for {method.name.lower()} requests",
            }
        )
    return problems


async def create_ticket(
    session: AsyncSession,
    ctx: Context,
    request: NewTicket,
    *,
    channel: str,
    at: datetime | None = None,
    external_ref: str | None = None,
) -> CreatedTicket:
    """Store a new ticket with its SLA clocks, tasks, timeline and events."""
    at = at or ctx.clock.now()
    priority = check_intake(ctx, request)
    service_type = ctx.workspace.service_type(request.service_type)
    facts = TicketFacts(
        service_type=service_type.key,
        pipeline=service_type.pipeline,
        contact_method=request.contact_method,
        priority=priority,
        channel=channel,
    )
    policy = ctx.workspace.select_policy(facts)
    pipeline = ctx.workspace.pipeline(service_type.pipeline)
    token = secrets.token_urlsafe(24)
    task_pipelines = [task.pipeline or service_type.pipeline for task in service_type.tasks]
    await reserve_ids(
        session,
        {
            table_of(Ticket): 1,
            table_of(Task): len(task_pipelines),
            table_of(SlaClock): sla.clocks_of_new_ticket(ctx, policy.key, task_pipelines),
            table_of(TicketMessage): 0,
            table_of(TimelineEntry): 0,
            table_of(OutboxEvent): 0,
        },
    )
    (ticket_id,) = await allocate_ids(session, table_of(Ticket))
    ticket = Ticket(
        id=ticket_id,
        subject=request.subject,
        description=request.description,
        status=TicketStatus.NEW,
        priority=priority,
        service_type=service_type.key,
        pipeline=pipeline.key,
        contact_method=request.contact_method,
        channel=channel,
        sla_policy=policy.key,
        requester_name=request.name,
        requester_email=request.email,
        requester_phone=request.phone,
        site_address=request.site_address,
        team=pipeline.team,
        status_token_hash=hash_status_token(token),
        external_ref=external_ref,
        tags=[],
        created_at=at,
        updated_at=at,
        clocks=[],
        tasks=[],
    )
    session.add(ticket)

    reference = reference_of(ctx, ticket)
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.created",
        actor=timeline.CUSTOMER if channel in {"portal", "widget", "email"} else timeline.SYSTEM,
        message=(
            f"{reference} created through {channel}: {service_type.name}, priority {priority}, "
            f"SLA policy {policy.name}"
        ),
        data={"channel": channel, "policy": policy.key, "priority": priority},
    )
    # A plain INSERT: nothing in this transaction reads the message back as an object.
    add_row(
        session,
        table_of(TicketMessage),
        {
            "ticket_id": ticket.id,
            "author_kind": "customer",
            "author_user_id": None,
            "public": True,
            "body": request.description,
            "created_at": at,
            "email_message_id": None,
        },
    )
    clocks = await sla.start_ticket_clocks(session, ctx, ticket, at=at)
    created_tasks = await tasks.create_tasks_for_ticket(session, ctx, ticket, at=at)
    await waits.plan_wait_rules(session, ctx, ticket, at=at)
    emit(
        session,
        type="ticket.created",
        at=at,
        ticket_id=ticket.id,
        data=ticket_payload(ctx, ticket, clocks),
    )
    return CreatedTicket(ticket=ticket, tasks=created_tasks, clocks=clocks, status_token=token)


def ticket_payload(ctx: Context, ticket: Ticket, clocks: list[SlaClock]) -> dict[str, Any]:
    """The ticket as webhook receivers see it."""
    dues = {clock.metric: clock.due_at for clock in clocks if clock.task_id is None}
    return {
        "reference": reference_of(ctx, ticket),
        "subject": ticket.subject,
        "description": ticket.description,
        "status": ticket.status,
        "priority": ticket.priority,
        "service_type": ticket.service_type,
        "pipeline": ticket.pipeline,
        "contact_method": ticket.contact_method,
        "channel": ticket.channel,
        "team": ticket.team,
        "requester": {
            "name": ticket.requester_name,
            "email": ticket.requester_email,
            "phone": ticket.requester_phone,
        },
        "site_address": ticket.site_address,
        "created_at": ticket.created_at.isoformat(),
        "first_response_due": _iso(dues.get("first_response")),
        "resolution_due": _iso(dues.get("resolution")),
        "external_ref": ticket.external_ref,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def access_ticket(
    session: AsyncSession, ctx: Context, reference: str, *, lock: bool = False
) -> Ticket:
    """Return the ticket with this reference, optionally locking its row, or raise NotFound."""
    number = parse_reference(ctx.workspace.spec.reference_prefix, reference)
    query = select(Ticket).where(Ticket.id == number)
    if lock:
        query = query.with_for_update()
    ticket = (await session.execute(query)).scalar_one_or_none()
    if ticket is None:
        raise NotFound(f"ticket {reference} not found")
    return ticket


async def ticket_by_status_token(session: AsyncSession, token: str) -> Ticket:
    ticket = (
        await session.execute(
            select(Ticket).where(Ticket.status_token_hash == hash_status_token(token))
        )
    ).scalar_one_or_none()
    if ticket is None:
        raise NotFound("no request matches this status link; check that the link is complete")
    return ticket


def _check_open(ctx: Context, ticket: Ticket, doing: str) -> None:
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict(
            f"ticket {reference_of(ctx, ticket)} is closed, so it cannot {doing}; "
            "open a new request that refers to it instead"
        )


async def add_agent_reply(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    author: User | None,
    body: str,
    public: bool,
    at: datetime | None = None,
) -> TicketMessage:
    """Add a public reply (which can meet the first response) or an internal note."""
    at = at or ctx.clock.now()
    _check_open(ctx, ticket, "take replies")
    message = TicketMessage(
        ticket_id=ticket.id,
        author_kind="agent",
        author_user_id=author.id if author else None,
        public=public,
        body=body,
        created_at=at,
    )
    session.add(message)
    actor = timeline.actor_for_user(author.id) if author else timeline.SYSTEM
    who = author.email if author else "system"
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.replied" if public else "ticket.note_added",
        actor=actor,
        message=f"{'Public reply' if public else 'Internal note'} by {who}",
    )
    ticket.updated_at = at
    if public:
        if ticket.first_response_at is None:
            ticket.first_response_at = at
        await sla.on_ticket_reply(session, ctx, ticket, by="agent", public=True, at=at)
        if ticket.status == TicketStatus.NEW:
            await change_status(
                session,
                ctx,
                ticket,
                status=TicketStatus.OPEN,
                actor=actor,
                at=at,
                reason="first public reply",
            )
    emit(
        session,
        type="ticket.replied" if public else "ticket.note_added",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "public": public,
            "author": who,
            "body": body,
        },
    )
    return message


async def add_customer_reply(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, body: str, at: datetime | None = None
) -> TicketMessage:
    """Add the customer's reply; a ticket waiting on the customer goes back to open."""
    at = at or ctx.clock.now()
    _check_open(ctx, ticket, "take replies")
    message = TicketMessage(
        ticket_id=ticket.id,
        author_kind="customer",
        author_user_id=None,
        public=True,
        body=body,
        created_at=at,
    )
    session.add(message)
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.customer_replied",
        actor=timeline.CUSTOMER,
        message="Customer replied",
    )
    ticket.updated_at = at
    await sla.on_ticket_reply(session, ctx, ticket, by="customer", public=True, at=at)
    if ticket.status in {TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.RESOLVED}:
        await change_status(
            session,
            ctx,
            ticket,
            status=TicketStatus.OPEN,
            actor=timeline.CUSTOMER,
            at=at,
            reason=CUSTOMER_REPLY_REASON,
        )
    emit(
        session,
        type="ticket.customer_replied",
        at=at,
        ticket_id=ticket.id,
        data={"reference": reference_of(ctx, ticket), "body": body},
    )
    return message


async def change_status(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    status: str,
    actor: str,
    at: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Move the ticket to `status`; return False if it already had it.

    Pausing, stopping and resuming the SLA clocks follows from the ticket's policy.
    """
    at = at or ctx.clock.now()
    try:
        new_status = TicketStatus(status)
    except ValueError:
        statuses = ", ".join(member.value for member in TicketStatus)
        raise InvalidInput(f"unknown status {status!r}; expected one of {statuses}") from None
    if ticket.status == new_status:
        return False
    _check_open(ctx, ticket, f"move to {new_status}")
    old_status = ticket.status
    ticket.status = new_status
    ticket.updated_at = at
    if new_status == TicketStatus.RESOLVED:
        ticket.resolved_at = at
    elif new_status == TicketStatus.CLOSED:
        ticket.closed_at = at
    elif old_status in {TicketStatus.RESOLVED}:
        ticket.resolved_at = None
    because = f" ({reason})" if reason else ""
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.status_changed",
        actor=actor,
        message=f"Status changed from {old_status} to {new_status}{because}",
        data={"from": old_status, "to": new_status, "reason": reason},
    )
    await sla.on_ticket_status(session, ctx, ticket, old_status=old_status, at=at, actor=actor)
    if new_status == TicketStatus.CLOSED:
        for task in await tasks.tasks_of(ticket):
            if task.completed_at is None:
                await sla.on_task_stage(
                    session, ctx, task, ticket, at=at, cause="ticket closed", actor=actor
                )
    await waits.plan_wait_rules(session, ctx, ticket, at=at)
    emit(
        session,
        type="ticket.status_changed",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "from": old_status,
            "to": new_status,
            "reason": reason,
        },
    )
    return True


async def change_priority(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    priority: str,
    actor: str,
    at: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Set the priority; running clocks take the new targets and keep their elapsed time."""
    at = at or ctx.clock.now()
    ctx.workspace.check_priority(priority)
    if ticket.priority == priority:
        return False
    _check_open(ctx, ticket, "change priority")
    old_priority = ticket.priority
    ticket.priority = priority
    ticket.updated_at = at
    because = f" ({reason})" if reason else ""
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.priority_changed",
        actor=actor,
        message=f"Priority changed from {old_priority} to {priority}{because}",
        data={"from": old_priority, "to": priority, "reason": reason},
    )
    await sla.on_ticket_priority(
        session, ctx, ticket, at=at, cause=f"priority changed to {priority}"
    )
    await tasks.follow_ticket_priority(session, ctx, ticket, at=at)
    emit(
        session,
        type="ticket.priority_changed",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "from": old_priority,
            "to": priority,
            "reason": reason,
        },
    )
    return True


async def change_contact_method(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    contact_method: str,
    actor: str,
    at: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Change how the customer is served; the ticket may move to another SLA policy."""
    at = at or ctx.clock.now()
    method = ctx.workspace.contact_method(contact_method)
    if ticket.contact_method == method.key:
        return False
    _check_open(ctx, ticket, "change contact method")
    if method.requires_site_address and not ticket.site_address:
        raise InvalidInput(
            f"a site address is required for {method.name.lower()} requests; this ticket has none",
            details=[{"field": "contact_method", "message": "the ticket has no site address"}],
        )
    old = ticket.contact_method
    ticket.contact_method = method.key
    ticket.updated_at = at
    because = f" ({reason})" if reason else ""
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.updated",
        actor=actor,
        message=f"Contact method changed from {old} to {method.key}{because}",
        data={"field": "contact_method", "from": old, "to": method.key},
    )
    await recompute_ticket(
        session, ctx, ticket, at=at, because=f"contact method changed to {method.key}"
    )
    emit(
        session,
        type="ticket.updated",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "field": "contact_method",
            "from": old,
            "to": method.key,
            "sla_policy": ticket.sla_policy,
        },
    )
    return True


async def assign(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    actor: str,
    team: str | None = None,
    assignee: User | None = None,
    at: datetime | None = None,
    reason: str | None = None,
) -> bool:
    """Give the ticket to a team and/or a person; return False if nothing changed."""
    at = at or ctx.clock.now()
    known_teams = [known.key for known in ctx.workspace.spec.teams]
    if team is not None and team not in known_teams:
        raise InvalidInput(f"unknown team {team!r}; expected one of {', '.join(known_teams)}")
    new_team = team if team is not None else ticket.team
    new_assignee = assignee.id if assignee is not None else ticket.assignee_id
    if team is not None and assignee is None and team != ticket.team:
        new_assignee = None
    if (new_team, new_assignee) == (ticket.team, ticket.assignee_id):
        return False
    _check_open(ctx, ticket, "be reassigned")
    old = {"team": ticket.team, "assignee_id": ticket.assignee_id}
    ticket.team = new_team
    ticket.assignee_id = new_assignee
    ticket.updated_at = at
    to = assignee.email if assignee is not None else f"team {new_team}"
    because = f" ({reason})" if reason else ""
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.assigned",
        actor=actor,
        message=f"Assigned to {to}{because}",
        data={"from": old, "to": {"team": new_team, "assignee_id": new_assignee}},
    )
    emit(
        session,
        type="ticket.assigned",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "team": new_team,
            "assignee": assignee.email if assignee is not None else None,
            "reason": reason,
        },
    )
    return True


async def add_tag(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, tag: str, actor: str, at: datetime
) -> bool:
    """Tag the ticket; return False if it already had the tag."""
    if tag in ticket.tags:
        return False
    ticket.tags = [*ticket.tags, tag]
    ticket.updated_at = at
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.updated",
        actor=actor,
        message=f"Tag {tag} added",
        data={"field": "tags", "added": tag},
    )
    emit(
        session,
        type="ticket.updated",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "field": "tags",
            "added": tag,
            "tags": ticket.tags,
        },
    )
    return True


async def add_system_message(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, body: str, actor: str, at: datetime
) -> TicketMessage:
    """Send the customer an automatic public message.

    It is delivered like an agent's reply (`ticket.replied` with `automated: true`), but it
    is not a person answering, so it does not meet the first-response target.
    """
    _check_open(ctx, ticket, "take messages")
    message = TicketMessage(
        ticket_id=ticket.id,
        author_kind="system",
        author_user_id=None,
        public=True,
        body=body,
        created_at=at,
    )
    session.add(message)
    ticket.updated_at = at
    timeline.record(
        session,
        ticket_id=ticket.id,
        at=at,
        kind="ticket.replied",
        actor=actor,
        message="Automatic message sent to the customer",
        data={"automated": True},
    )
    emit(
        session,
        type="ticket.replied",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "public": True,
            "author": "system",
            "automated": True,
            "body": body,
        },
    )
    return message
