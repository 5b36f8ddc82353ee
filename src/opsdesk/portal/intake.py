"""Write a portal or widget submission: the ticket or reply and its files, in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.portal.attachments import (
    CheckedFile,
    public_attachments,
    size_text,
    store_attachments,
)
from opsdesk.portal.texts import (
    NEXT_STEPS,
    first_response_target,
    service_type_name,
    working_hours_name,
)
from opsdesk.tickets import queries
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket, TicketMessage
from opsdesk.tickets.schemas import IntakeRequest

logger = logging.getLogger(__name__)


async def _first_message_id(session: AsyncSession, ticket_id: int) -> int:
    """Return the id of the ticket's first message, which contains the request's description."""
    query = (
        select(TicketMessage.id)
        .where(TicketMessage.ticket_id == ticket_id)
        .order_by(TicketMessage.id)
        .limit(1)
    )
    return (await session.execute(query)).scalar_one()


async def create_request(
    db: Database,
    ctx: Context,
    request: IntakeRequest,
    files: list[CheckedFile],
    *,
    channel: str,
) -> tickets.CreatedTicket:
    """Create the ticket through the ticket service, with the files on its first message."""
    async with db.transaction() as session:
        created = await tickets.create_ticket(
            session, ctx, tickets.NewTicket.from_intake(request), channel=channel
        )
        if files:
            message_id = await _first_message_id(session, created.ticket.id)
            store_attachments(
                session,
                ticket_id=created.ticket.id,
                message_id=message_id,
                files=files,
                at=created.ticket.created_at,
            )
    logger.info(
        "request %s created through %s with %d attachment(s)",
        tickets.reference_of(ctx, created.ticket),
        channel,
        len(files),
    )
    return created


async def add_reply(
    db: Database, ctx: Context, token: str, body: str, files: list[CheckedFile]
) -> None:
    """Add the customer's reply through the ticket service, with the files on it.

    Raises NotFound for an unknown token and Conflict for a closed ticket.
    """
    async with db.transaction() as session:
        found = await tickets.ticket_by_status_token(session, token)
        ticket = await tickets.access_ticket(
            session, ctx, tickets.reference_of(ctx, found), lock=True
        )
        message = await tickets.add_customer_reply(session, ctx, ticket, body=body)
        if files:
            await session.flush()
            store_attachments(
                session,
                ticket_id=ticket.id,
                message_id=message.id,
                files=files,
                at=message.created_at,
            )


@dataclass(frozen=True)
class StatusPage:
    ticket: Ticket
    context: dict[str, Any]


async def status_context(db: Database, ctx: Context, token: str) -> StatusPage:
    """Return what the customer's pages show about the request behind `token`.

    Raises NotFound for an unknown token.
    """
    async with db.read() as session:
        ticket = await tickets.ticket_by_status_token(session, token)
        status = await queries.public_status(session, ctx, ticket)
        files = await public_attachments(session, ticket.id)
    priority_names = {priority.key: priority.name for priority in ctx.workspace.spec.priorities}
    return StatusPage(
        ticket=ticket,
        context={
            "token": token,
            "status": status,
            "service_name": service_type_name(ctx, ticket.service_type),
            "priority_name": priority_names.get(status.priority, status.priority),
            "next_step": NEXT_STEPS.get(status.status, ""),
            "first_response_words": first_response_target(ctx, ticket),
            "working_hours": working_hours_name(ctx, ticket),
            "attachments": [
                {
                    "id": file.id,
                    "filename": file.filename,
                    "size": size_text(file.size_bytes),
                    "created_at": file.created_at,
                }
                for file in files
            ],
            "status_url": f"{ctx.settings.base_url}/status/{token}",
            "closed": status.status == "closed",
        },
    )
