"""Words the customer pages show: what happens next, and targets in working time."""

from __future__ import annotations

from datetime import timedelta

from opsdesk.context import Context
from opsdesk.errors import InvalidInput
from opsdesk.tickets.models import Ticket
from opsdesk.workspace.schema import SlaPolicy, TicketStatus

NEXT_STEPS: dict[str, str] = {
    TicketStatus.NEW: (
        "Our team has your request and will reply here. You do not need to do anything now."
    ),
    TicketStatus.OPEN: (
        "We are working on your request and will post updates here. Reply below if anything "
        "changes."
    ),
    TicketStatus.WAITING_ON_CUSTOMER: (
        "We need something from you before we can go on. Please read our last message and "
        "reply below; your reply goes straight to the team."
    ),
    TicketStatus.PENDING_THIRD_PARTY: (
        "We are waiting for a supplier or another party. We will post here as soon as we hear back."
    ),
    TicketStatus.RESOLVED: (
        "We believe this is done. If something is still wrong, reply below and we will "
        "reopen your request."
    ),
    TicketStatus.CLOSED: (
        "This request is closed and takes no more replies. If you need more help, send a new "
        "request and mention this reference."
    ),
}


def _unit(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def duration_words(value: timedelta) -> str:
    """Return a duration in words: ``1 hour``, ``30 minutes``, ``1 hour 30 minutes``.

    Hours are not turned into days, because a working day has no fixed length.
    """
    minutes = max(1, round(value.total_seconds() / 60))
    hours, minutes = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(_unit(hours, "hour"))
    if minutes:
        parts.append(_unit(minutes, "minute"))
    return " ".join(parts)


def first_response_target(ctx: Context, ticket: Ticket) -> str | None:
    """Return the first-response target of the ticket's SLA policy in words, if it has one.

    For example ``within 1 hour of working time``.
    """
    policy = _policy_of(ctx, ticket)
    targets = policy.targets.get(ticket.priority) if policy is not None else None
    if targets is None or targets.first_response is None:
        return None
    return f"within {duration_words(targets.first_response)} of working time"


def working_hours_name(ctx: Context, ticket: Ticket) -> str:
    """Return the name of the calendar whose hours count toward the ticket's targets."""
    policy = _policy_of(ctx, ticket)
    if policy is None:
        key = ctx.workspace.spec.default_calendar
    else:
        key = ctx.workspace.policy_calendar_key(policy)
    return ctx.workspace.spec.calendars[key].name or key.replace("_", " ")


def _policy_of(ctx: Context, ticket: Ticket) -> SlaPolicy | None:
    # A policy removed from the workspace file after the ticket was created is unknown.
    try:
        return ctx.workspace.policy(ticket.sla_policy)
    except InvalidInput:
        return None


def service_type_name(ctx: Context, key: str) -> str:
    """Return the service type's name, or the key itself once it left the workspace file."""
    try:
        return ctx.workspace.service_type(key).name
    except InvalidInput:
        return key.replace("_", " ")
