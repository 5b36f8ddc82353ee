"""The technicians' pages: my tasks, one task, stage moves, taking a task and comments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opsdesk.console import technician_tasks as task_data
from opsdesk.console.agent_clock_display import BADGE_LABELS
from opsdesk.console.deps import Staff, TechnicianStaff
from opsdesk.console.queue import workspace_names
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import NotFound, OpsdeskError
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.tasks import service as tasks
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import format_reference
from opsdesk.tickets.timeline import actor_for_user
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

TASK_REFRESH_EVENTS = tuple(
    name
    for name in EVENT_TYPES
    if name.startswith(("task.", "sla.")) or name == "ticket.status_changed"
)
RETURN_TO_TASK = "task"
SAVED_NOTICES = {
    "stage": "Stage changed.",
    "taken": "The task is yours now.",
    "comment": "Comment added to the ticket as an internal note.",
    "unchanged": "Nothing changed: the task was already there.",
}
ReturnTo = Annotated[str, Form(max_length=20)]


async def _render_list(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        mine = await task_data.load_my_tasks(session, ctx, staff.user)
    names = workspace_names(ctx)
    # An error about a task that has no card here (another team's, or someone else's)
    # is shown above the lists.
    listed = {card.reference for card in [*mine.assigned, *mine.unassigned]}
    page_errors = [message for ref, message in (errors or {}).items() if ref not in listed]
    context: dict[str, Any] = {
        "staff": staff,
        "nav": "tasks",
        "mine": mine,
        "single": None,
        "page_errors": page_errors,
        "team_names": [names["teams"].get(team, team) for team in mine.teams],
        "now": mine.now,
        "badge_labels": BADGE_LABELS,
        "errors": errors or {},
        "form": form or {},
        "notice": _notice(request, status),
        "refresh_events": " ".join(TASK_REFRESH_EVENTS),
    }
    return render(request, "console/my_tasks.html", context, status=status)


async def _render_task(
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
        task = await tasks.access_task(session, reference)
        ticket = await session.get(Ticket, task.ticket_id)
        if ticket is None:
            raise NotFound(f"the ticket of task {reference} no longer exists")
        card = await task_data.load_task_card(session, ctx, task, ticket, staff.user)
    context: dict[str, Any] = {
        "staff": staff,
        "nav": "tasks",
        "mine": None,
        "single": card,
        "page_errors": [],
        "team_names": [],
        "now": ctx.clock.now(),
        "badge_labels": BADGE_LABELS,
        "errors": errors or {},
        "form": form or {},
        "notice": _notice(request, status),
        "refresh_events": " ".join(TASK_REFRESH_EVENTS),
    }
    return render(request, "console/my_tasks.html", context, status=status)


def _notice(request: Request, status: int) -> str | None:
    saved = request.query_params.get("saved") if status == 200 else None
    return SAVED_NOTICES.get(saved or "")


def _back(reference: str, return_to: str, saved: str) -> Response:
    if return_to == RETURN_TO_TASK:
        url = f"/console/tasks/{reference}?saved={saved}"
    else:
        url = f"/console/my-tasks?saved={saved}#task-{reference}"
    return RedirectResponse(url, status_code=303)


async def _error(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    reference: str,
    return_to: str,
    exc: OpsdeskError | ValueError,
    form: dict[str, str] | None = None,
) -> Response:
    """Show the page again with the error on the task's card."""
    if isinstance(exc, OpsdeskError):
        if exc.status_code == 404:
            raise exc
        message, status = exc.message, exc.status_code
    else:
        message, status = str(exc), 422
    errors = {reference: message}
    if return_to == RETURN_TO_TASK:
        return await _render_task(
            request, db, ctx, staff, reference, errors=errors, form=form, status=status
        )
    return await _render_list(request, db, ctx, staff, errors=errors, form=form, status=status)


@router.get("/my-tasks", response_class=HTMLResponse)
async def my_tasks(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: TechnicianStaff
) -> Response:
    return await _render_list(request, db, ctx, staff)


@router.get("/tasks/{reference}", response_class=HTMLResponse)
async def task_page(
    request: Request, reference: str, db: DatabaseDep, ctx: ContextDep, staff: TechnicianStaff
) -> Response:
    return await _render_task(request, db, ctx, staff, reference)


@router.post("/tasks/{reference}/stage")
async def move_task(
    request: Request,
    reference: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: TechnicianStaff,
    stage: Annotated[str, Form(max_length=64)] = "",
    return_to: ReturnTo = "",
) -> Response:
    try:
        async with db.transaction() as session:
            task = await tasks.access_task(session, reference, lock=True)
            reference = tasks.task_reference(task)
            await task_data.check_can_work_on(session, task, staff.user)
            ticket = await session.get(Ticket, task.ticket_id, with_for_update=True)
            if ticket is None:
                raise NotFound(f"the ticket of task {reference} no longer exists")
            changed = await tasks.move_task(
                session, ctx, task, ticket, stage=stage, actor=actor_for_user(staff.user.id)
            )
    except OpsdeskError as exc:
        return await _error(request, db, ctx, staff, reference, return_to, exc)
    return _back(reference, return_to, "stage" if changed else "unchanged")


@router.post("/tasks/{reference}/take")
async def take_task(
    request: Request,
    reference: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: TechnicianStaff,
    return_to: ReturnTo = "",
) -> Response:
    """Assign the task to the signed-in user."""
    try:
        async with db.transaction() as session:
            task = await tasks.access_task(session, reference, lock=True)
            reference = tasks.task_reference(task)
            await task_data.check_can_take(session, task, staff.user)
            ticket = await session.get(Ticket, task.ticket_id, with_for_update=True)
            if ticket is None:
                raise NotFound(f"the ticket of task {reference} no longer exists")
            await tasks.assign_task(
                session,
                ctx,
                task,
                ticket,
                actor=actor_for_user(staff.user.id),
                assignee=staff.user,
            )
    except OpsdeskError as exc:
        return await _error(request, db, ctx, staff, reference, return_to, exc)
    return _back(reference, return_to, "taken")


@router.post("/tasks/{reference}/comments")
async def comment_on_task(
    request: Request,
    reference: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: TechnicianStaff,
    comment: Annotated[str, Form(max_length=100_000)] = "",
    return_to: ReturnTo = "",
) -> Response:
    """Add the comment to the task's ticket as an internal note marked with the task."""
    form = {"comment": comment}
    try:
        text = task_data.check_comment(comment)
        async with db.transaction() as session:
            task = await tasks.access_task(session, reference, lock=True)
            reference = tasks.task_reference(task)
            await task_data.check_can_work_on(session, task, staff.user)
            ticket = await tickets.access_ticket(
                session,
                ctx,
                format_reference(ctx.workspace.spec.reference_prefix, task.ticket_id),
                lock=True,
            )
            await tickets.add_agent_reply(
                session,
                ctx,
                ticket,
                author=staff.user,
                body=task_data.comment_note(task, text),
                public=False,
            )
    except (OpsdeskError, ValueError) as exc:
        return await _error(request, db, ctx, staff, reference, return_to, exc, form)
    return _back(reference, return_to, "comment")
