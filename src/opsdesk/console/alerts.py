"""SLA alerts for supervisors: warnings and breaches that nobody has acknowledged yet.

A clock has one acknowledgement (`acknowledged_at`, `acknowledged_by_id`). It covers the
level the clock had reached when it was given: a warning acknowledged at 10:05 shows
again as a breach when the clock breaches later. The comparison uses the instants the
levels are recorded with (the warning and due instants).
NOTE: a breach that a lagging worker fires after a warning was acknowledged, with a due
instant before that acknowledgement, stays hidden, because its breach instant is earlier
than the acknowledgement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from opsdesk.context import Context
from opsdesk.errors import NotFound
from opsdesk.events.service import emit
from opsdesk.sla.engine import Phase
from opsdesk.sla.models import SlaClock
from opsdesk.sla.service import ladder_for, schedule_next_fire
from opsdesk.tasks.models import Task
from opsdesk.tasks.service import task_reference
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.service import reference_of
from opsdesk.users.models import User

BREACH = "breach"
WARNING = "warning"
ALERT_LIMIT = 100


@dataclass(frozen=True)
class Alert:
    clock_id: int
    level: str
    """breach or warning."""
    fired_at: datetime
    ticket_reference: str
    ticket_subject: str
    metric: str
    cycle: int
    task_reference: str | None
    priority: str
    due_at: datetime | None
    phase: str


@dataclass(frozen=True)
class AlertList:
    alerts: list[Alert]
    total: int
    """Count of all open alerts; `alerts` contains at most ALERT_LIMIT of them, newest first."""


def _open_breach() -> ColumnElement[bool]:
    return and_(
        SlaClock.breached_at.is_not(None),
        or_(SlaClock.acknowledged_at.is_(None), SlaClock.acknowledged_at < SlaClock.breached_at),
    )


def _open_warning() -> ColumnElement[bool]:
    # A warning on a clock that then stopped within its target needs nobody any more.
    return and_(
        SlaClock.breached_at.is_(None),
        SlaClock.warned_at.is_not(None),
        SlaClock.phase != Phase.STOPPED.value,
        or_(SlaClock.acknowledged_at.is_(None), SlaClock.acknowledged_at < SlaClock.warned_at),
    )


def is_open(clock: SlaClock) -> bool:
    """Return whether the clock has a warning or breach to acknowledge, as the query decides."""
    acknowledged = clock.acknowledged_at
    if clock.breached_at is not None:
        return acknowledged is None or acknowledged < clock.breached_at
    if clock.warned_at is None or clock.phase == Phase.STOPPED.value:
        return False
    return acknowledged is None or acknowledged < clock.warned_at


async def open_alerts(
    session: AsyncSession, ctx: Context, *, limit: int = ALERT_LIMIT
) -> AlertList:
    """Return the open alerts, newest first, with the count of all of them."""
    condition = or_(_open_breach(), _open_warning())
    total = await session.scalar(select(func.count()).select_from(SlaClock).where(condition))
    fired = func.coalesce(SlaClock.breached_at, SlaClock.warned_at)
    rows = await session.execute(
        select(SlaClock, Ticket, Task)
        .join(Ticket, Ticket.id == SlaClock.ticket_id)
        .outerjoin(Task, Task.id == SlaClock.task_id)
        .where(condition)
        .order_by(fired.desc(), SlaClock.id.desc())
        .limit(limit)
    )
    alerts = []
    for clock, ticket, task in rows:
        level = BREACH if clock.breached_at is not None else WARNING
        fired_at = clock.breached_at if level == BREACH else clock.warned_at
        assert fired_at is not None
        alerts.append(
            Alert(
                clock_id=clock.id,
                level=level,
                fired_at=fired_at,
                ticket_reference=reference_of(ctx, ticket),
                ticket_subject=ticket.subject,
                metric=clock.metric,
                cycle=clock.cycle,
                task_reference=task_reference(task) if task is not None else None,
                priority=task.priority if task is not None else ticket.priority,
                due_at=clock.due_at,
                phase=clock.phase,
            )
        )
    return AlertList(alerts=alerts, total=int(total or 0))


def describe_clock(clock: SlaClock, task: Task | None) -> str:
    """Name the clock for people.

    For example ``resolution``, ``resolution cycle 1`` or ``operational of task TK-000004``.
    """
    name = clock.metric.replace("_", " ")
    if clock.cycle:
        name += f" cycle {clock.cycle}"
    if task is not None:
        name += f" of task {task_reference(task)}"
    return name


async def acknowledge(
    session: AsyncSession, ctx: Context, *, clock_id: int, user: User, at: datetime
) -> bool:
    """Acknowledge the clock's open warning or breach and record it on the ticket's timeline.

    As an acknowledgement through the API or a notification's link does, it emits
    `escalation.acknowledged` and plans the clock's next firing again, so repeating
    escalation levels stop. Return False, and change nothing, when there is nothing open
    to acknowledge (another supervisor was first). Raise NotFound for an unknown clock.
    """
    clock = await session.get(SlaClock, clock_id, with_for_update=True)
    if clock is None:
        raise NotFound(f"SLA clock {clock_id} not found; it may belong to a deleted ticket")
    if not is_open(clock):
        return False
    # Locked after the clock, in the order the worker that fires clocks takes them.
    ticket = (
        await session.execute(select(Ticket).where(Ticket.id == clock.ticket_id).with_for_update())
    ).scalar_one()
    task = await session.get(Task, clock.task_id) if clock.task_id is not None else None
    level = BREACH if clock.breached_at is not None else WARNING
    clock.acknowledged_at = at
    clock.acknowledged_by_id = user.id
    timeline.record(
        session,
        ticket_id=clock.ticket_id,
        task_id=clock.task_id,
        clock_id=clock.id,
        at=at,
        kind="sla.acknowledged",
        actor=timeline.actor_for_user(user.id),
        message=(
            f"{level.capitalize()} of {describe_clock(clock, task)} acknowledged by {user.email}"
        ),
        data={"level": level},
    )
    emit(
        session,
        type="escalation.acknowledged",
        at=at,
        ticket_id=ticket.id,
        data={
            "reference": reference_of(ctx, ticket),
            "metric": clock.metric,
            "level": level,
            "by": user.email,
        },
    )
    schedule_next_fire(
        session,
        clock,
        ladder=ladder_for(ctx, clock, ticket),
        calendar=ctx.workspace.calendar(clock.calendar),
        at=at,
    )
    return True
