"""Task actions: create a ticket's tasks from templates, move them through stages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.db import allocate_ids, table_of
from opsdesk.errors import Conflict, InvalidInput, NotFound
from opsdesk.events.service import emit
from opsdesk.sla import service as sla
from opsdesk.tasks.models import Task
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import TASK_PREFIX, format_reference, parse_reference
from opsdesk.users.models import User
from opsdesk.workspace.schema import TaskTemplate, TicketStatus


def task_reference(task: Task) -> str:
    return format_reference(TASK_PREFIX, task.id)


async def task_payload(
    session: AsyncSession, ctx: Context, task: Task, ticket: Ticket
) -> dict[str, Any]:
    """Return the task as webhook receivers see it; the assignee is named by e-mail."""
    assignee = await session.get(User, task.assignee_id) if task.assignee_id else None
    return {
        "reference": task_reference(task),
        "ticket": format_reference(ctx.workspace.spec.reference_prefix, ticket.id),
        "title": task.title,
        "template": task.template,
        "pipeline": task.pipeline,
        "stage": task.stage,
        "priority": task.priority,
        "team": task.team,
        "assignee": assignee.email if assignee is not None else None,
        "due_at": task.due_at.isoformat() if task.due_at else None,
        "site_address": ticket.site_address,
    }


async def create_tasks_for_ticket(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, at: datetime
) -> list[Task]:
    """Create one task per template of the ticket's service type, each with its clock."""
    service_type = ctx.workspace.service_type(ticket.service_type)
    templates = [
        (template, template.pipeline or service_type.pipeline) for template in service_type.tasks
    ]
    return await _create_tasks(session, ctx, ticket, templates, at=at, actor=timeline.SYSTEM)


async def create_task_from_template(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    *,
    template_key: str,
    actor: str,
    at: datetime,
) -> Task:
    """Create a task from a template of any service type (automation rules use this)."""
    for service_type in ctx.workspace.spec.service_types:
        for template in service_type.tasks:
            if template.key == template_key:
                pipeline = template.pipeline or service_type.pipeline
                created = await _create_tasks(
                    session, ctx, ticket, [(template, pipeline)], at=at, actor=actor
                )
                return created[0]
    raise InvalidInput(
        f"unknown task template {template_key!r}",
        details=[{"field": "template", "message": "no service type has this task template"}],
    )


async def _create_tasks(
    session: AsyncSession,
    ctx: Context,
    ticket: Ticket,
    templates: list[tuple[TaskTemplate, str]],
    *,
    at: datetime,
    actor: str,
) -> list[Task]:
    created: list[Task] = []
    ids = await allocate_ids(session, table_of(Task), len(templates))
    tasks_list = await tasks_of(ticket)
    for (template, pipeline_key), task_id in zip(templates, ids, strict=True):
        pipeline = ctx.workspace.pipeline(pipeline_key)
        task = Task(
            id=task_id,
            ticket_id=ticket.id,
            template=template.key,
            title=template.title,
            pipeline=pipeline.key,
            stage=pipeline.stages[0].key,
            priority=ticket.priority,
            team=pipeline.team,
            created_at=at,
            updated_at=at,
        )
        tasks_list.append(task)
        created.append(task)
    for task in created:
        await sla.start_task_clock(session, ctx, task, ticket, at=at)
        timeline.record(
            session,
            ticket_id=ticket.id,
            task_id=task.id,
            at=at,
            kind="task.created",
            actor=actor,
            message=(
                f"Task {task_reference(task)} created in pipeline {task.pipeline}: {task.title}"
                + (f", due {task.due_at.isoformat()}" if task.due_at else "")
            ),
            data={"pipeline": task.pipeline, "stage": task.stage},
        )
        emit(
            session,
            type="task.created",
            at=at,
            ticket_id=ticket.id,
            data=await task_payload(session, ctx, task, ticket),
        )
    return created


async def access_task(session: AsyncSession, reference: str, *, lock: bool = False) -> Task:
    number = parse_reference(TASK_PREFIX, reference, what="task")
    query = select(Task).where(Task.id == number)
    if lock:
        query = query.with_for_update()
    task = (await session.execute(query)).scalar_one_or_none()
    if task is None:
        raise NotFound(f"task {reference} not found")
    return task


async def move_task(
    session: AsyncSession,
    ctx: Context,
    task: Task,
    ticket: Ticket,
    *,
    stage: str,
    actor: str,
    at: datetime | None = None,
) -> bool:
    """Move the task to another stage of its pipeline; return False if it was there already."""
    at = at or ctx.clock.now()
    target = ctx.workspace.stage(task.pipeline, stage)
    if task.stage == target.key:
        return False
    if ticket.status == TicketStatus.CLOSED:
        raise Conflict(
            f"task {task_reference(task)} belongs to closed ticket "
            f"{format_reference(ctx.workspace.spec.reference_prefix, ticket.id)}; "
            "closed tickets and their tasks cannot change"
        )
    if task.completed_at is not None and target.completes:
        raise Conflict(f"task {task_reference(task)} is already complete")
    old_stage = task.stage
    task.stage = target.key
    task.updated_at = at
    task.completed_at = at if target.completes else None
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id,
        at=at,
        kind="task.stage_changed",
        actor=actor,
        message=f"Task {task_reference(task)} moved from {old_stage} to {target.key}",
        data={"from": old_stage, "to": target.key},
    )
    await sla.on_task_stage(
        session, ctx, task, ticket, at=at, cause=f"stage changed to {target.key}"
    )
    data = await task_payload(session, ctx, task, ticket) | {"from": old_stage}
    emit(session, type="task.stage_changed", at=at, ticket_id=ticket.id, data=data)
    if target.completes:
        emit(session, type="task.completed", at=at, ticket_id=ticket.id, data=data)
    return True


async def assign_task(
    session: AsyncSession,
    ctx: Context,
    task: Task,
    ticket: Ticket,
    *,
    actor: str,
    assignee: User | None,
    team: str | None = None,
    at: datetime | None = None,
) -> bool:
    at = at or ctx.clock.now()
    known_teams = [known.key for known in ctx.workspace.spec.teams]
    if team is not None and team not in known_teams:
        raise InvalidInput(f"unknown team {team!r}; expected one of {', '.join(known_teams)}")
    new_team = team if team is not None else task.team
    new_assignee = assignee.id if assignee is not None else task.assignee_id
    if (new_team, new_assignee) == (task.team, task.assignee_id):
        return False
    task.team = new_team
    task.assignee_id = new_assignee
    task.updated_at = at
    to = assignee.email if assignee is not None else f"team {new_team}"
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=task.id,
        at=at,
        kind="task.assigned",
        actor=actor,
        message=f"Task {task_reference(task)} assigned to {to}",
    )
    emit(
        session,
        type="task.updated",
        at=at,
        ticket_id=ticket.id,
        data=await task_payload(session, ctx, task, ticket),
    )
    return True


async def tasks_of(ticket: Ticket) -> list[Task]:
    """Return the ticket's tasks, loaded once per ticket object and kept with it."""
    loaded: list[Task] = await ticket.awaitable_attrs.tasks
    return loaded


async def follow_ticket_priority(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, at: datetime
) -> None:
    """Give open tasks the ticket's new priority; their clocks take the new targets."""
    for task in await tasks_of(ticket):
        if task.completed_at is not None or task.priority == ticket.priority:
            continue
        task.priority = ticket.priority
        task.updated_at = at
        await sla.on_task_priority(
            session, ctx, task, ticket, at=at, cause=f"ticket priority changed to {ticket.priority}"
        )
