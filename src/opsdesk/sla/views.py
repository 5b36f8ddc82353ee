"""HTTP routes of the SLA API: a ticket's clocks, due overrides and the scenario preview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from opsdesk.errors import NotFound
from opsdesk.sla import service
from opsdesk.sla.preview import preview
from opsdesk.sla.queries import ticket_sla
from opsdesk.sla.scenario import parse_scenario
from opsdesk.sla.schemas import DueOverride, TicketSla
from opsdesk.tickets import service as tickets
from opsdesk.tickets.timeline import actor_for_user
from opsdesk.users.models import Role, User
from opsdesk.web.deps import ContextDep, DatabaseDep, Staff, require_roles
from opsdesk.web.params import RowId
from opsdesk.web.responses import JSON_BODY_ERRORS, STAFF_ERRORS, error_responses

router = APIRouter(prefix="/api/v1", tags=["sla"], responses=error_responses(*STAFF_ERRORS))

Supervisor = Annotated[User, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]


@router.get("/tickets/{reference}/sla", response_model=TicketSla, responses=error_responses(404))
async def get_ticket_sla(
    reference: str, db: DatabaseDep, ctx: ContextDep, _user: Staff
) -> TicketSla:
    """Every clock of the ticket and its tasks, measured now, each with its own timeline."""
    async with db.read() as session:
        ticket = await tickets.access_ticket(session, ctx, reference)
        return await ticket_sla(session, ctx, ticket)


@router.put(
    "/tickets/{reference}/sla/clocks/{clock_id}/due",
    response_model=TicketSla,
    responses=error_responses(*JSON_BODY_ERRORS, 404, 409),
)
async def override_due(
    reference: str,
    clock_id: RowId,
    body: DueOverride,
    db: DatabaseDep,
    ctx: ContextDep,
    user: Supervisor,
) -> TicketSla:
    """Set a clock's due instant by hand (supervisors), or clear it with due_at null."""
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        clocks = {clock.id: clock for clock in await service.all_clock_rows(session, ticket.id)}
        clock = clocks.get(clock_id)
        if clock is None:
            raise NotFound(
                f"ticket {reference} has no clock {clock_id}; GET its /sla for the clock ids"
            )
        await service.override_due(
            session,
            ctx,
            ticket,
            clock,
            due_at=body.due_at,
            reason=body.reason,
            actor=actor_for_user(user.id),
            at=ctx.clock.now(),
        )
        return await ticket_sla(session, ctx, ticket)


@router.post("/sla/preview", responses=error_responses(*JSON_BODY_ERRORS))
async def preview_scenario(
    _user: Staff, scenario: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Compute an SLA scenario (the YAML scenario format, sent as JSON) without storing anything."""
    return preview(parse_scenario(scenario))
