"""Read models and permission checks of the technicians' task pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.console.agent_clock_display import (
    BadgeState,
    badge_of_stored,
    countdown_text,
    is_at_risk,
    maps_url,
)
from opsdesk.context import Context
from opsdesk.errors import Conflict, Forbidden
from opsdesk.sla.engine import Phase
from opsdesk.sla.models import SlaClock
from opsdesk.tasks.models import Task
from opsdesk.tasks.service import task_reference
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import format_reference
from opsdesk.users.models import Role, TeamMember, User
from opsdesk.workspace.schema import TicketStatus

# Supervisors and admins may act on any task; technicians on their own and their teams'.
OVERSEER_ROLES = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})
COMMENT_MAX = 5000


@dataclass(frozen=True)
class StageChoice:
    key: str
    name: str


@dataclass(frozen=True)
class TaskCard:
    reference: str
    title: str
    ticket_reference: str
    ticket_subject: str
    ticket_closed: bool
    site_address: str | None
    maps_url: str | None
    pipeline_name: str
    team_name: str | None
    priority_name: str
    stage: StageChoice
    moves: list[StageChoice]
    """Every other stage of the task's pipeline, in pipeline order."""
    completed: bool
    assigned_to_me: bool
    due_at: datetime | None
    warn_at: datetime | None
    countdown: str
    badge: BadgeState


@dataclass(frozen=True)
class MyTasks:
    assigned: list[TaskCard]
    unassigned: list[TaskCard]
    teams: list[str]
    now: datetime


async def teams_of(session: AsyncSession, user_id: int) -> list[str]:
    rows = await session.execute(
        select(TeamMember.team).where(TeamMember.user_id == user_id).order_by(TeamMember.team)
    )
    return list(rows.scalars())


async def _cards(
    session: AsyncSession, ctx: Context, rows: list[tuple[Task, Ticket]], user: User
) -> list[TaskCard]:
    """Build the cards of `rows` with one more query, for the tasks' clocks."""
    now = ctx.clock.now()
    task_ids = [task.id for task, _ in rows]
    clocks: dict[int, SlaClock] = {}
    if task_ids:
        found = await session.execute(select(SlaClock).where(SlaClock.task_id.in_(task_ids)))
        clocks = {clock.task_id: clock for clock in found.scalars() if clock.task_id is not None}
    spec = ctx.workspace.spec
    priority_names = {item.key: item.name for item in spec.priorities}
    team_names = {item.key: item.name for item in spec.teams}
    cards = []
    for task, ticket in rows:
        pipeline = ctx.workspace.pipeline(task.pipeline)
        stages = [StageChoice(stage.key, stage.name) for stage in pipeline.stages]
        current = next(
            (stage for stage in stages if stage.key == task.stage),
            StageChoice(task.stage, task.stage),
        )
        clock = clocks.get(task.id)
        if clock is None:
            badge, due_at, warn_at = BadgeState.NONE, task.due_at, None
        else:
            badge = badge_of_stored(
                phase=clock.phase,
                due_at=clock.due_at,
                warn_at=clock.warn_at,
                warned_at=clock.warned_at,
                breached_at=clock.breached_at,
                now=now,
            )
            due_at = clock.due_at
            running = clock.phase == Phase.RUNNING.value
            warn_at = (
                clock.warn_at
                if running and not is_at_risk(clock.warn_at, clock.warned_at, now)
                else None
            )
        cards.append(
            TaskCard(
                reference=task_reference(task),
                title=task.title,
                ticket_reference=format_reference(spec.reference_prefix, ticket.id),
                ticket_subject=ticket.subject,
                ticket_closed=ticket.status == TicketStatus.CLOSED,
                site_address=ticket.site_address,
                maps_url=maps_url(ticket.site_address),
                pipeline_name=pipeline.name,
                team_name=team_names.get(task.team or "", task.team),
                priority_name=priority_names.get(task.priority, task.priority),
                stage=current,
                moves=[stage for stage in stages if stage.key != task.stage],
                completed=task.completed_at is not None,
                assigned_to_me=task.assignee_id == user.id,
                due_at=due_at,
                warn_at=warn_at,
                countdown=countdown_text(due_at, now) if badge is not BadgeState.PAUSED else "",
                badge=badge,
            )
        )
    return cards


async def load_my_tasks(session: AsyncSession, ctx: Context, user: User) -> MyTasks:
    """Return the user's open tasks and the unassigned open tasks of their teams.

    Tasks of closed tickets are left out, because they can no longer change. Both lists
    are sorted by operational due, soonest first, tasks without a due last.
    """
    teams = await teams_of(session, user.id)
    mine = Task.assignee_id == user.id
    team_pool = and_(Task.assignee_id.is_(None), Task.team.in_(teams)) if teams else None
    condition = or_(mine, team_pool) if team_pool is not None else mine
    rows = await session.execute(
        select(Task, Ticket)
        .join(Ticket, Ticket.id == Task.ticket_id)
        .where(condition, Task.completed_at.is_(None), Ticket.status != TicketStatus.CLOSED.value)
        .order_by(Task.due_at.is_(None), Task.due_at, Task.id)
    )
    pairs = [(task, ticket) for task, ticket in rows]
    cards = await _cards(session, ctx, pairs, user)
    return MyTasks(
        assigned=[card for card in cards if card.assigned_to_me],
        unassigned=[card for card in cards if not card.assigned_to_me],
        teams=teams,
        now=ctx.clock.now(),
    )


async def load_task_card(
    session: AsyncSession, ctx: Context, task: Task, ticket: Ticket, user: User
) -> TaskCard:
    return (await _cards(session, ctx, [(task, ticket)], user))[0]


async def check_can_take(session: AsyncSession, task: Task, user: User) -> None:
    """Raise unless `user` may assign the task to themselves."""
    if task.assignee_id == user.id:
        return
    if task.assignee_id is not None:
        assignee = await session.get(User, task.assignee_id)
        assignee_email = assignee.email if assignee is not None else "someone else"
        raise Conflict(
            f"task {task_reference(task)} is already assigned to {assignee_email}; "
            "ask a supervisor to reassign it"
        )
    if user.role in OVERSEER_ROLES:
        return
    if task.team is None or task.team not in await teams_of(session, user.id):
        raise Forbidden(
            f"task {task_reference(task)} belongs to team {task.team or 'none'}, "
            "which you are not a member of"
        )


async def check_can_work_on(session: AsyncSession, task: Task, user: User) -> None:
    """Raise unless `user` may move the task or comment on it.

    Technicians work on tasks assigned to them and on unassigned tasks of their teams.
    """
    if user.role in OVERSEER_ROLES or task.assignee_id == user.id:
        return
    if task.assignee_id is None and task.team in await teams_of(session, user.id):
        return
    raise Forbidden(
        f"task {task_reference(task)} is not assigned to you; take it first or ask a supervisor"
    )


def check_comment(text: str) -> str:
    """Return the comment stripped, or raise ValueError with the reason."""
    text = text.strip()
    if not text:
        raise ValueError("write a comment first")
    if len(text) > COMMENT_MAX:
        raise ValueError(f"the comment is too long: at most {COMMENT_MAX} characters")
    if any(char < " " and char not in "\t\n\r" for char in text):
        raise ValueError("the comment contains a control character; remove it")
    return text


def comment_note(task: Task, text: str) -> str:
    """Return the internal note that carries a technician's comment on a task."""
    return f"[{task_reference(task)}] {text}"
