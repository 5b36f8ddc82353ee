"""Pipeline boards for supervisors: one column per stage with its open tasks, and moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.console.deps import Staff, SupervisorStaff
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import Conflict, InvalidInput, NotFound
from opsdesk.sla.engine import Phase
from opsdesk.sla.models import SlaClock
from opsdesk.sla.reading import clock_state
from opsdesk.tasks import service as tasks
from opsdesk.tasks.models import Task
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.service import reference_of
from opsdesk.users.models import User
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render
from opsdesk.workspace.schema import Pipeline, TicketStatus

router = APIRouter(prefix="/console", include_in_schema=False)

CARDS_PER_COLUMN = 200
COMPLETED_WINDOW = timedelta(days=7)
BOARD_EVENTS = (
    "task.created task.updated task.stage_changed task.completed "
    "sla.warning sla.breached ticket.status_changed"
)
STATE_LABELS = {
    "on_track": "On track",
    "at_risk": "At risk",
    "breached": "Breached",
    "paused": "Paused",
    "met": "Met",
    "no_target": "No target",
}


@dataclass(frozen=True)
class Card:
    reference: str
    title: str
    stage: str
    ticket_reference: str
    ticket_subject: str
    assignee: str | None
    due_at: datetime | None
    state: str


@dataclass(frozen=True)
class Column:
    key: str
    name: str
    completes: bool
    pauses_sla: bool
    cards: list[Card]
    total: int
    completed_recently: int
    """Tasks that reached this completing stage in the last 7 days (0 for other stages)."""


def card_state(clock: SlaClock | None, *, now: datetime) -> str:
    """on_track, at_risk, breached, paused, met or no_target, from the task's clock."""
    if clock is None or clock.target_seconds is None:
        return "no_target"
    overdue = (
        clock.phase == Phase.RUNNING.value and clock.due_at is not None and clock.due_at <= now
    )
    state = clock_state(clock, breached_now=overdue)
    if state == Phase.RUNNING.value:
        return "at_risk" if clock.warned_at is not None else "on_track"
    return state


def _open_tasks(pipeline: str) -> Any:
    return (
        select(Task, Ticket, User.email)
        .join(Ticket, Ticket.id == Task.ticket_id)
        .outerjoin(User, User.id == Task.assignee_id)
        .where(
            Task.pipeline == pipeline,
            Task.completed_at.is_(None),
            Ticket.status != TicketStatus.CLOSED.value,
        )
    )


async def load_columns(
    session: AsyncSession, ctx: Context, pipeline: Pipeline, *, now: datetime
) -> list[Column]:
    """Return the pipeline's stages in order, each with its open tasks, soonest due first.

    Tasks of closed tickets are left out: their tickets can no longer change, so they
    cannot be moved either.
    """
    counts = dict(
        (
            await session.execute(
                select(Task.stage, func.count())
                .join(Ticket, Ticket.id == Task.ticket_id)
                .where(
                    Task.pipeline == pipeline.key,
                    Task.completed_at.is_(None),
                    Ticket.status != TicketStatus.CLOSED.value,
                )
                .group_by(Task.stage)
            )
        ).all()
    )
    completed = dict(
        (
            await session.execute(
                select(Task.stage, func.count())
                .where(Task.pipeline == pipeline.key, Task.completed_at >= now - COMPLETED_WINDOW)
                .group_by(Task.stage)
            )
        ).all()
    )
    cards: dict[str, list[Card]] = {stage.key: [] for stage in pipeline.stages}
    for stage in pipeline.stages:
        if stage.completes or not counts.get(stage.key):
            continue
        rows = list(
            await session.execute(
                _open_tasks(pipeline.key)
                .where(Task.stage == stage.key)
                .order_by(Task.due_at.is_(None), Task.due_at, Task.id)
                .limit(CARDS_PER_COLUMN)
            )
        )
        clocks = await _task_clocks(session, [task.id for task, _, _ in rows])
        for task, ticket, email in rows:
            clock = clocks.get(task.id)
            cards[stage.key].append(
                Card(
                    reference=tasks.task_reference(task),
                    title=task.title,
                    stage=task.stage,
                    ticket_reference=reference_of(ctx, ticket),
                    ticket_subject=ticket.subject,
                    assignee=email,
                    due_at=clock.due_at if clock is not None else task.due_at,
                    state=card_state(clock, now=now),
                )
            )
    return [
        Column(
            key=stage.key,
            name=stage.name,
            completes=stage.completes,
            pauses_sla=stage.pauses_sla,
            cards=cards[stage.key],
            total=int(counts.get(stage.key, 0)),
            completed_recently=int(completed.get(stage.key, 0)) if stage.completes else 0,
        )
        for stage in pipeline.stages
    ]


async def _task_clocks(session: AsyncSession, task_ids: list[int]) -> dict[int, SlaClock]:
    if not task_ids:
        return {}
    rows = await session.execute(
        select(SlaClock).where(SlaClock.task_id.in_(task_ids)).order_by(SlaClock.cycle)
    )
    # Ordered by cycle, so each task keeps its latest clock.
    return {clock.task_id: clock for clock in rows.scalars() if clock.task_id is not None}


def _pipeline(ctx: Context, key: str) -> Pipeline:
    try:
        return ctx.workspace.pipeline(key)
    except InvalidInput:
        raise NotFound(f"pipeline {key!r} not found; the boards page lists them") from None


async def _render_board(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    pipeline: Pipeline,
    *,
    template: str = "console/board.html",
    error: str | None = None,
    status: int = 200,
) -> Response:
    now = ctx.clock.now()
    async with db.read() as session:
        columns = await load_columns(session, ctx, pipeline, now=now)
    context: dict[str, Any] = {
        "staff": staff,
        "nav": "boards",
        "pipeline": pipeline,
        "columns": columns,
        "stages": pipeline.stages,
        "state_labels": STATE_LABELS,
        "events": BOARD_EVENTS,
        "error": error,
        "moved": request.query_params.get("moved"),
    }
    return render(request, template, context, status=status, headers={"Cache-Control": "no-store"})


@router.get("/boards", response_class=HTMLResponse)
async def boards(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: SupervisorStaff
) -> Response:
    async with db.read() as session:
        rows = await session.execute(
            select(Task.pipeline, Task.stage, func.count())
            .join(Ticket, Ticket.id == Task.ticket_id)
            .where(Task.completed_at.is_(None), Ticket.status != TicketStatus.CLOSED.value)
            .group_by(Task.pipeline, Task.stage)
        )
        counts: dict[str, dict[str, int]] = {}
        for pipeline_key, stage, count in rows:
            counts.setdefault(pipeline_key, {})[stage] = int(count)
    team_names = {team.key: team.name for team in ctx.workspace.spec.teams}
    return render(
        request,
        "console/boards.html",
        {
            "staff": staff,
            "nav": "boards",
            "pipelines": ctx.workspace.spec.pipelines,
            "counts": counts,
            "team_names": team_names,
        },
    )


@router.get("/boards/{pipeline_key}", response_class=HTMLResponse)
async def board(
    request: Request, pipeline_key: str, db: DatabaseDep, ctx: ContextDep, staff: SupervisorStaff
) -> Response:
    return await _render_board(request, db, ctx, staff, _pipeline(ctx, pipeline_key))


@router.get("/boards/{pipeline_key}/columns", response_class=HTMLResponse)
async def board_columns(
    request: Request, pipeline_key: str, db: DatabaseDep, ctx: ContextDep, staff: SupervisorStaff
) -> Response:
    """Render the columns alone; the board page re-reads them when task events arrive."""
    return await _render_board(
        request,
        db,
        ctx,
        staff,
        _pipeline(ctx, pipeline_key),
        template="console/_supervisor_board_columns.html",
    )


@router.post("/boards/{pipeline_key}/tasks/{reference}/stage")
async def move(
    request: Request,
    pipeline_key: str,
    reference: str,
    stage: Annotated[str, Form(max_length=64)],
    db: DatabaseDep,
    ctx: ContextDep,
    staff: SupervisorStaff,
) -> Response:
    """Move a task to another stage of its pipeline with tasks.service.move_task."""
    pipeline = _pipeline(ctx, pipeline_key)
    try:
        async with db.transaction() as session:
            task = await tasks.access_task(session, reference, lock=True)
            if task.pipeline != pipeline.key:
                raise NotFound(f"task {reference} is not on the {pipeline.name} board")
            ticket = (
                await session.execute(
                    select(Ticket).where(Ticket.id == task.ticket_id).with_for_update()
                )
            ).scalar_one()
            await tasks.move_task(
                session,
                ctx,
                task,
                ticket,
                stage=stage,
                actor=timeline.actor_for_user(staff.user.id),
            )
            moved = tasks.task_reference(task)
    except (InvalidInput, Conflict) as exc:
        return await _render_board(
            request, db, ctx, staff, pipeline, error=exc.message, status=exc.status_code
        )
    return RedirectResponse(
        f"/console/boards/{pipeline.key}?moved={moved}#task-{moved}", status_code=303
    )
