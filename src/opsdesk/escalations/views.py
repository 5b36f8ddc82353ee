"""Routes to acknowledge a clock: the API for staff, and the signed link in notifications."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from opsdesk.errors import NotFound
from opsdesk.escalations.acknowledge import (
    acknowledge,
    clock_and_ticket,
    clock_of_token,
    link_secret,
)
from opsdesk.sla.queries import ticket_sla
from opsdesk.sla.schemas import TicketSla
from opsdesk.tickets import service as tickets
from opsdesk.tickets.timeline import actor_for_user
from opsdesk.web.deps import Agent, ContextDep, DatabaseDep
from opsdesk.web.params import RowId
from opsdesk.web.responses import STAFF_ERRORS, WRITE_ERRORS, error_responses
from opsdesk.web.templating import render

router = APIRouter()


@router.post(
    "/api/v1/tickets/{reference}/sla/clocks/{clock_id}/acknowledge",
    response_model=TicketSla,
    tags=["sla"],
    responses=error_responses(*STAFF_ERRORS, *WRITE_ERRORS, 404),
)
async def acknowledge_clock(
    reference: str, clock_id: RowId, db: DatabaseDep, ctx: ContextDep, user: Agent
) -> TicketSla:
    """Acknowledge the clock's warning or breach; repeating escalation levels stop."""
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        clock, _ = await clock_and_ticket(session, clock_id)
        if clock.ticket_id != ticket.id:
            raise NotFound(
                f"ticket {reference} has no clock {clock_id}; GET its /sla for the clock ids"
            )
        await acknowledge(
            session,
            ctx,
            clock,
            ticket,
            actor=actor_for_user(user.id),
            who=user.email,
            user_id=user.id,
            at=ctx.clock.now(),
        )
        return await ticket_sla(session, ctx, ticket)


@router.get("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
async def acknowledge_page(
    request: Request, token: str, db: DatabaseDep, ctx: ContextDep
) -> HTMLResponse:
    """Show what the link acknowledges; the button posts back, so link previews change nothing."""
    async with db.read() as session:
        clock_id = clock_of_token(await link_secret(session, ctx), token, now=ctx.clock.now())
        clock, ticket = await clock_and_ticket(session, clock_id)
        reference = tickets.reference_of(ctx, ticket)
    return render(
        request,
        "ack.html",
        {
            "reference": reference,
            "subject": ticket.subject,
            "metric": clock.metric,
            "done": False,
            "token": token,
        },
    )


@router.post("/ack/{token}", response_class=HTMLResponse, include_in_schema=False)
async def acknowledge_by_link(
    request: Request, token: str, db: DatabaseDep, ctx: ContextDep
) -> HTMLResponse:
    async with db.transaction() as session:
        clock_id = clock_of_token(await link_secret(session, ctx), token, now=ctx.clock.now())
        clock, ticket = await clock_and_ticket(session, clock_id)
        await acknowledge(
            session,
            ctx,
            clock,
            ticket,
            actor="link",
            who="a notification link",
            user_id=None,
            at=ctx.clock.now(),
        )
        reference = tickets.reference_of(ctx, ticket)
    return render(
        request,
        "ack.html",
        {
            "reference": reference,
            "subject": ticket.subject,
            "metric": clock.metric,
            "done": True,
            "token": token,
        },
    )
