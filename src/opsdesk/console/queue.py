"""The agents' queue page, its live rows and the saved views of its filters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from opsdesk.console import agent_queue
from opsdesk.console.agent_clock_display import BADGE_LABELS
from opsdesk.console.deps import AgentStaff, Staff
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import InvalidInput
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.users.models import User
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render
from opsdesk.workspace.schema import TicketStatus

router = APIRouter(prefix="/console", include_in_schema=False)

QUEUE_REFRESH_EVENTS = tuple(
    name for name in EVENT_TYPES if name.startswith(("ticket.", "sla.", "task."))
)


def workspace_names(ctx: Context) -> dict[str, dict[str, str]]:
    """Return display names by key for priorities, pipelines, service types and teams."""
    spec = ctx.workspace.spec
    return {
        "priorities": {item.key: item.name for item in spec.priorities},
        "pipelines": {item.key: item.name for item in spec.pipelines},
        "service_types": {item.key: item.name for item in spec.service_types},
        "teams": {item.key: item.name for item in spec.teams},
    }


def _status_options() -> list[tuple[str, str]]:
    options = [
        (agent_queue.STATUS_OPEN, "Open (not resolved or closed)"),
        (agent_queue.STATUS_ALL, "Any status"),
    ]
    options += [
        (member.value, member.value.replace("_", " ").capitalize()) for member in TicketStatus
    ]
    return options


async def _page_context(
    db: Database,
    ctx: Context,
    staff: Staff,
    parsed: agent_queue.ParsedFilters,
    *,
    view_error: str | None = None,
    view_name: str = "",
) -> dict[str, Any]:
    async with db.read() as session:
        page = await agent_queue.load_queue(session, ctx, parsed.filters, user_id=staff.user.id)
        views = await agent_queue.saved_views(session, staff.user.id)
        emails = list(
            (
                await session.execute(
                    select(User.email).where(User.active.is_(True)).order_by(User.email)
                )
            ).scalars()
        )
    return {
        "staff": staff,
        "nav": "queue",
        "filters": parsed.filters,
        "filter_errors": parsed.errors,
        "query_string": parsed.filters.query_string(),
        "page": page,
        "views": views,
        "view_error": view_error,
        "view_name": view_name,
        "names": workspace_names(ctx),
        "status_options": _status_options(),
        "assignee_emails": emails,
        "badge_labels": BADGE_LABELS,
        "refresh_events": " ".join(QUEUE_REFRESH_EVENTS),
    }


@router.get("/queue", response_class=HTMLResponse)
async def queue_page(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: AgentStaff
) -> Response:
    parsed = agent_queue.parse_filters(ctx, request.query_params)
    context = await _page_context(db, ctx, staff, parsed)
    return render(request, "console/queue.html", context)


@router.get("/queue/rows", response_class=HTMLResponse)
async def queue_rows(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: AgentStaff
) -> Response:
    """Return only the queue's table body, which console.js swaps in after an event."""
    parsed = agent_queue.parse_filters(ctx, request.query_params)
    async with db.read() as session:
        page = await agent_queue.load_queue(session, ctx, parsed.filters, user_id=staff.user.id)
    return render(
        request,
        "console/queue_rows.html",
        {"page": page, "names": workspace_names(ctx), "badge_labels": BADGE_LABELS},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/queue/views")
async def save_view(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AgentStaff,
    name: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    """Save the filters sent with the form (the page's current filters) under a name."""
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    parsed = agent_queue.parse_filters(ctx, params)
    try:
        async with db.transaction() as session:
            await agent_queue.save_view(
                session,
                user_id=staff.user.id,
                name=name,
                filters=parsed.filters,
                at=ctx.clock.now(),
            )
    except InvalidInput as exc:
        context = await _page_context(
            db, ctx, staff, parsed, view_error=exc.message, view_name=name
        )
        return render(request, "console/queue.html", context, status=exc.status_code)
    query = parsed.filters.query_string()
    return RedirectResponse("/console/queue" + (f"?{query}" if query else ""), status_code=303)


@router.post("/queue/views/{view_id}/delete")
async def delete_view(view_id: int, db: DatabaseDep, staff: AgentStaff) -> Response:
    async with db.transaction() as session:
        await agent_queue.delete_view(session, user_id=staff.user.id, view_id=view_id)
    return RedirectResponse("/console/queue", status_code=303)
