"""HTTP routes for operational tasks: lists for crews and stage moves."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.errors import InvalidInput, NotFound
from opsdesk.sla.models import SlaClock
from opsdesk.sla.reading import clock_view
from opsdesk.tasks import service as tasks
from opsdesk.tasks.models import Task
from opsdesk.tasks.schemas import TaskPage, TaskUpdate, TaskView
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import format_reference, parse_reference
from opsdesk.tickets.schemas import QueryText
from opsdesk.tickets.timeline import actor_for_user
from opsdesk.users.models import User
from opsdesk.users.service import users_with
from opsdesk.web.deps import ContextDep, DatabaseDep, FieldStaff, Staff
from opsdesk.web.responses import JSON_BODY_ERRORS, STAFF_ERRORS, error_responses

router = APIRouter(prefix="/api/v1", tags=["tasks"], responses=error_responses(*STAFF_ERRORS))


async def _views(
    session: AsyncSession, ctx: Context, rows: list[tuple[Task, Ticket]]
) -> list[TaskView]:
    task_ids = [task.id for task, _ in rows]
    clocks = (
        {
            clock.task_id: clock
            for clock in (
                await session.execute(select(SlaClock).where(SlaClock.task_id.in_(task_ids)))
            ).scalars()
        }
        if task_ids
        else {}
    )
    user_ids = {task.assignee_id for task, _ in rows if task.assignee_id}
    emails = (
        dict(
            (await session.execute(select(User.id, User.email).where(User.id.in_(user_ids)))).all()
        )
        if user_ids
        else {}
    )
    now = ctx.clock.now()
    views = []
    for task, ticket in rows:
        clock = clocks.get(task.id)
        reference = tasks.task_reference(task)
        views.append(
            TaskView(
                reference=reference,
                ticket=format_reference(ctx.workspace.spec.reference_prefix, ticket.id),
                title=task.title,
                template=task.template,
                pipeline=task.pipeline,
                stage=task.stage,
                priority=task.priority,
                team=task.team,
                assignee_email=emails.get(task.assignee_id) if task.assignee_id else None,
                site_address=ticket.site_address,
                due_at=task.due_at,
                created_at=task.created_at,
                updated_at=task.updated_at,
                completed_at=task.completed_at,
                clock=clock_view(
                    clock, ctx.workspace.calendar(clock.calendar), now=now, task=reference
                )
                if clock
                else None,
            )
        )
    return views


def _ticket_filter(ctx: Context, reference: str) -> int:
    """Return the ticket number of the `ticket` filter; a malformed one is a 422, not a 404."""
    prefix = ctx.workspace.spec.reference_prefix
    try:
        return parse_reference(prefix, reference)
    except NotFound:
        raise InvalidInput(
            f"invalid ticket filter {reference!r}; ticket references look like {prefix}-000123",
            details=[{"field": "ticket", "message": f"must look like {prefix}-000123"}],
        ) from None


@router.get("/tasks", response_model=TaskPage)
async def list_tasks(
    db: DatabaseDep,
    ctx: ContextDep,
    _user: Staff,
    pipeline: QueryText | None = None,
    stage: QueryText | None = None,
    team: QueryText | None = None,
    assignee: Annotated[
        QueryText | None, Query(description="E-mail address of the assignee.")
    ] = None,
    ticket: Annotated[
        QueryText | None, Query(description="Ticket reference such as SR-000123.")
    ] = None,
    open: Annotated[
        bool | None, Query(description="true: not completed; false: completed.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TaskPage:
    """Tasks sorted by operational due instant, soonest first."""
    query = select(Task, Ticket).join(Ticket, Ticket.id == Task.ticket_id)
    if pipeline:
        query = query.where(Task.pipeline == pipeline)
    if stage:
        query = query.where(Task.stage == stage)
    if team:
        query = query.where(Task.team == team)
    if ticket:
        query = query.where(Task.ticket_id == _ticket_filter(ctx, ticket))
    if open is not None:
        query = query.where(Task.completed_at.is_(None) if open else Task.completed_at.is_not(None))
    async with db.read() as session:
        if assignee:
            found = await users_with(session, email=assignee)
            if not found:
                return TaskPage(items=[])
            query = query.where(Task.assignee_id == found[0].id)
        rows = (
            await session.execute(
                query.order_by(Task.due_at.is_(None), Task.due_at, Task.id).limit(limit)
            )
        ).all()
        return TaskPage(
            items=await _views(session, ctx, [(task, task_ticket) for task, task_ticket in rows])
        )


@router.get("/tasks/{reference}", response_model=TaskView, responses=error_responses(404))
async def get_task(reference: str, db: DatabaseDep, ctx: ContextDep, _user: Staff) -> TaskView:
    async with db.read() as session:
        task = await tasks.access_task(session, reference)
        ticket = await session.get(Ticket, task.ticket_id)
        assert ticket is not None
        return (await _views(session, ctx, [(task, ticket)]))[0]


@router.patch(
    "/tasks/{reference}",
    response_model=TaskView,
    responses=error_responses(*JSON_BODY_ERRORS, 404, 409),
)
async def update_task(
    reference: str, body: TaskUpdate, db: DatabaseDep, ctx: ContextDep, user: FieldStaff
) -> TaskView:
    """Move a task to another stage of its pipeline, or reassign it."""
    actor = actor_for_user(user.id)
    async with db.transaction() as session:
        task = await tasks.access_task(session, reference, lock=True)
        ticket = await session.get(Ticket, task.ticket_id, with_for_update=True)
        assert ticket is not None
        if body.stage is not None:
            await tasks.move_task(session, ctx, task, ticket, stage=body.stage, actor=actor)
        if body.team is not None or body.assignee_email is not None:
            assignee = None
            if body.assignee_email is not None:
                found = await users_with(session, email=str(body.assignee_email))
                if not found:
                    raise InvalidInput(
                        f"no active user with e-mail {body.assignee_email}",
                        details=[{"field": "assignee_email", "message": "no such active user"}],
                    )
                assignee = found[0]
            await tasks.assign_task(
                session, ctx, task, ticket, actor=actor, assignee=assignee, team=body.team
            )
        await session.flush()
        return (await _views(session, ctx, [(task, ticket)]))[0]
