"""The console's ticket page: conversation, replies and notes, status, priority, assignment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opsdesk.console import agent_ticket_page as page_data
from opsdesk.console.agent_clock_display import BADGE_LABELS
from opsdesk.console.deps import AgentStaff, AnyStaff, Staff
from opsdesk.console.queue import workspace_names
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import InvalidInput, OpsdeskError
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.tickets import service as tickets
from opsdesk.tickets.timeline import actor_for_user
from opsdesk.users.service import users_with
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render

router = APIRouter(prefix="/console/tickets", include_in_schema=False)

# Confirmations shown after a redirect; the query parameter selects one of these fixed texts.
SAVED_NOTICES = {
    "reply": "Public reply sent.",
    "note": "Internal note added.",
    "status": "Status changed.",
    "priority": "Priority changed.",
    "assignment": "Assignment changed.",
    "unchanged": "Nothing changed: the ticket already had that value.",
}
FormText = Annotated[str, Form(max_length=100_000)]


async def _render_page(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    reference: str,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        ticket = await tickets.access_ticket(session, ctx, reference)
        data = await page_data.load_ticket_page(session, ctx, ticket)
        users = await page_data.assignable_users(session)
    saved = request.query_params.get("saved") if status == 200 else None
    context: dict[str, Any] = {
        "staff": staff,
        "nav": "queue",
        "page": data,
        "ticket": data.detail,
        "can_edit": staff.role in page_data.EDITOR_ROLES,
        "users": users,
        "options": page_data.form_options(ctx),
        "names": workspace_names(ctx),
        "badge_labels": BADGE_LABELS,
        "errors": errors or {},
        "form": form or {},
        "notice": SAVED_NOTICES.get(saved or ""),
        "refresh_events": " ".join(EVENT_TYPES),
    }
    return render(request, "console/ticket.html", context, status=status)


def _done(reference: str, saved: str, anchor: str) -> Response:
    return RedirectResponse(f"/console/tickets/{reference}?saved={saved}#{anchor}", status_code=303)


@router.get("/{reference}", response_class=HTMLResponse)
async def ticket_page(
    request: Request, reference: str, db: DatabaseDep, ctx: ContextDep, staff: AnyStaff
) -> Response:
    return await _render_page(request, db, ctx, staff, reference)


@router.post("/{reference}/messages")
async def add_message(
    request: Request,
    reference: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AgentStaff,
    body: FormText = "",
    visibility: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    """Add a public reply (which meets the first response) or an internal note."""
    form = {"body": body, "visibility": visibility}
    if visibility not in {"public", "internal"}:
        return await _render_page(
            request,
            db,
            ctx,
            staff,
            reference,
            errors={"reply": "choose Send public reply or Add internal note"},
            form=form,
            status=422,
        )
    try:
        text = page_data.check_message_body(body)
    except ValueError as exc:
        return await _render_page(
            request, db, ctx, staff, reference, errors={"reply": str(exc)}, form=form, status=422
        )
    try:
        async with db.transaction() as session:
            ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
            reference = tickets.reference_of(ctx, ticket)
            await tickets.add_agent_reply(
                session, ctx, ticket, author=staff.user, body=text, public=visibility == "public"
            )
    except OpsdeskError as exc:
        if exc.status_code == 404:
            raise
        return await _render_page(
            request,
            db,
            ctx,
            staff,
            reference,
            errors={"reply": exc.message},
            form=form,
            status=exc.status_code,
        )
    return _done(reference, "reply" if visibility == "public" else "note", "conversation")


@router.post("/{reference}/status")
async def change_status(
    request: Request,
    reference: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AgentStaff,
    status: Annotated[str, Form(max_length=64)] = "",
    reason: FormText = "",
) -> Response:
    form = {"status": status, "status_reason": reason}
    try:
        because = page_data.check_reason(reason)
        async with db.transaction() as session:
            ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
            reference = tickets.reference_of(ctx, ticket)
            changed = await tickets.change_status(
                session,
                ctx,
                ticket,
                status=status,
                actor=actor_for_user(staff.user.id),
                reason=because,
            )
    except (OpsdeskError, ValueError) as exc:
        return await _form_error(request, db, ctx, staff, reference, "status", exc, form)
    return _done(reference, "status" if changed else "unchanged", "controls")


@router.post("/{reference}/priority")
async def change_priority(
    request: Request,
    reference: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AgentStaff,
    priority: Annotated[str, Form(max_length=64)] = "",
    reason: FormText = "",
) -> Response:
    form = {"priority": priority, "priority_reason": reason}
    try:
        because = page_data.check_reason(reason)
        async with db.transaction() as session:
            ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
            reference = tickets.reference_of(ctx, ticket)
            changed = await tickets.change_priority(
                session,
                ctx,
                ticket,
                priority=priority,
                actor=actor_for_user(staff.user.id),
                reason=because,
            )
    except (OpsdeskError, ValueError) as exc:
        return await _form_error(request, db, ctx, staff, reference, "priority", exc, form)
    return _done(reference, "priority" if changed else "unchanged", "controls")


@router.post("/{reference}/assignment")
async def change_assignment(
    request: Request,
    reference: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AgentStaff,
    team: Annotated[str, Form(max_length=64)] = "",
    assignee: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    """Give the ticket to a team and, optionally, a person of the staff."""
    form = {"team": team, "assignee": assignee}
    try:
        async with db.transaction() as session:
            ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
            reference = tickets.reference_of(ctx, ticket)
            person = None
            if assignee.strip():
                found = await users_with(session, email=assignee.strip())
                if not found:
                    raise InvalidInput(f"no active user with e-mail {assignee.strip()}")
                person = found[0]
            new_team = team.strip() or None
            if (
                person is None
                and ticket.assignee_id is not None
                and new_team
                in {
                    None,
                    ticket.team,
                }
            ):
                # The assign service keeps the current person unless the team changes.
                raise InvalidInput(
                    "to take the ticket off its assignee, choose another person or another team"
                )
            changed = await tickets.assign(
                session,
                ctx,
                ticket,
                actor=actor_for_user(staff.user.id),
                team=new_team,
                assignee=person,
            )
    except OpsdeskError as exc:
        return await _form_error(request, db, ctx, staff, reference, "assignment", exc, form)
    return _done(reference, "assignment" if changed else "unchanged", "controls")


async def _form_error(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    reference: str,
    field: str,
    exc: OpsdeskError | ValueError,
    form: dict[str, str],
) -> Response:
    """Show the page again with the error beside the form that caused it."""
    if isinstance(exc, OpsdeskError):
        if exc.status_code == 404:
            raise exc
        message, status = exc.message, exc.status_code
    else:
        message, status = str(exc), 422
    return await _render_page(
        request, db, ctx, staff, reference, errors={field: message}, form=form, status=status
    )
