"""The agents' queue: filters, the ticket list sorted by time to breach, and saved views.

A ticket's place in the queue comes from its own first-response and resolution clocks.
Tickets with a breach come first. Tickets with a running clock follow, soonest due
first, then tickets whose clocks are all paused, then tickets with no running or paused
clock. The sort runs in the database, so only one page of tickets is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, and_, case, delete, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.console.agent_clock_display import (
    BadgeState,
    badge_of_stored,
    countdown_text,
    is_at_risk,
)
from opsdesk.context import Context
from opsdesk.errors import InvalidInput, NotFound
from opsdesk.sla.engine import Phase
from opsdesk.sla.models import SlaClock
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import format_reference
from opsdesk.users.models import SavedView, User
from opsdesk.workspace.schema import TicketStatus

QUEUE_METRICS = ("first_response", "resolution")
QUEUE_LIMIT = 200
CLOSED_STATUSES = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
STATUS_OPEN = "open"
STATUS_ALL = "all"
ASSIGNEE_ME = "me"
ASSIGNEE_NONE = "unassigned"
VIEW_NAME_MAX = 100
SAVED_VIEWS_MAX = 50

# Rank of a ticket in the queue; the SQL sort and the badge use the same rules.
_RANK_BREACHED = 0
_RANK_RUNNING = 1
_RANK_PAUSED = 2
_RANK_OTHER = 3


@dataclass(frozen=True)
class QueueFilters:
    pipeline: str | None = None
    priority: str | None = None
    status: str = STATUS_OPEN
    assignee: str | None = None
    """``me``, ``unassigned`` or an e-mail address."""
    breached: bool = False

    def query_string(self) -> str:
        """Return the filters as a query string, leaving out the defaults."""
        params: list[tuple[str, str]] = []
        if self.pipeline:
            params.append(("pipeline", self.pipeline))
        if self.priority:
            params.append(("priority", self.priority))
        if self.status != STATUS_OPEN:
            params.append(("status", self.status))
        if self.assignee:
            params.append(("assignee", self.assignee))
        if self.breached:
            params.append(("breached", "1"))
        return urlencode(params)


@dataclass(frozen=True)
class ParsedFilters:
    filters: QueueFilters
    errors: dict[str, str] = field(default_factory=dict)
    """Field name to the reason its value was ignored."""


def _clean(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def parse_filters(ctx: Context, params: Mapping[str, str]) -> ParsedFilters:
    """Read the filters from query parameters; an unknown value is ignored and reported."""
    workspace = ctx.workspace
    errors: dict[str, str] = {}

    pipeline = _clean(params.get("pipeline"))
    pipelines = [known.key for known in workspace.spec.pipelines]
    if pipeline is not None and pipeline not in pipelines:
        errors["pipeline"] = f"unknown pipeline {pipeline!r}; showing every pipeline"
        pipeline = None

    priority = _clean(params.get("priority"))
    if priority is not None and priority not in workspace.priority_keys:
        errors["priority"] = f"unknown priority {priority!r}; showing every priority"
        priority = None

    status = _clean(params.get("status")) or STATUS_OPEN
    statuses = {STATUS_OPEN, STATUS_ALL, *(member.value for member in TicketStatus)}
    if status not in statuses:
        errors["status"] = f"unknown status {status!r}; showing open tickets"
        status = STATUS_OPEN

    assignee = _clean(params.get("assignee"))
    if assignee is not None:
        assignee = assignee.lower()
        if assignee not in {ASSIGNEE_ME, ASSIGNEE_NONE} and (
            "@" not in assignee or len(assignee) > 320 or not assignee.isprintable()
        ):
            errors["assignee"] = "unknown assignee; use me, unassigned or an e-mail address"
            assignee = None

    breached = (_clean(params.get("breached")) or "").lower() in {"1", "true", "on", "yes"}
    return ParsedFilters(
        QueueFilters(
            pipeline=pipeline,
            priority=priority,
            status=status,
            assignee=assignee,
            breached=breached,
        ),
        errors,
    )


@dataclass(frozen=True)
class QueueRow:
    reference: str
    subject: str
    status: str
    priority: str
    service_type: str
    pipeline: str
    team: str | None
    assignee_email: str | None
    state: BadgeState
    due_at: datetime | None
    """The soonest due of the ticket's running first-response and resolution clocks."""
    due_metric: str | None
    warn_at: datetime | None
    """The next warning instant still ahead of a running clock, for the live badge."""
    countdown: str


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    more: bool
    """More tickets match than the page shows."""
    now: datetime


def _own_clock(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(
        SlaClock.ticket_id == Ticket.id,
        SlaClock.task_id.is_(None),
        SlaClock.metric.in_(QUEUE_METRICS),
        *conditions,
    )


async def load_queue(
    session: AsyncSession,
    ctx: Context,
    filters: QueueFilters,
    *,
    user_id: int,
    limit: int = QUEUE_LIMIT,
) -> QueuePage:
    """Return one page of the queue in two queries: the tickets, then their clocks."""
    now = ctx.clock.now()
    nearest_due = (
        select(func.min(SlaClock.due_at))
        .where(
            SlaClock.ticket_id == Ticket.id,
            SlaClock.task_id.is_(None),
            SlaClock.metric.in_(QUEUE_METRICS),
            SlaClock.phase == Phase.RUNNING.value,
        )
        .correlate(Ticket)
        .scalar_subquery()
    )
    breached = _own_clock(
        or_(
            SlaClock.breached_at.is_not(None),
            and_(SlaClock.phase == Phase.RUNNING.value, SlaClock.due_at <= now),
        )
    )
    paused = _own_clock(SlaClock.phase == Phase.PAUSED.value)
    rank = case(
        (breached, _RANK_BREACHED),
        (nearest_due.is_not(None), _RANK_RUNNING),
        (paused, _RANK_PAUSED),
        else_=_RANK_OTHER,
    )
    query = select(
        Ticket.id,
        Ticket.subject,
        Ticket.status,
        Ticket.priority,
        Ticket.service_type,
        Ticket.pipeline,
        Ticket.team,
        User.email,
    ).outerjoin(User, User.id == Ticket.assignee_id)
    if filters.status == STATUS_OPEN:
        query = query.where(Ticket.status.not_in(CLOSED_STATUSES))
    elif filters.status != STATUS_ALL:
        query = query.where(Ticket.status == filters.status)
    if filters.pipeline:
        query = query.where(Ticket.pipeline == filters.pipeline)
    if filters.priority:
        query = query.where(Ticket.priority == filters.priority)
    if filters.assignee == ASSIGNEE_ME:
        query = query.where(Ticket.assignee_id == user_id)
    elif filters.assignee == ASSIGNEE_NONE:
        query = query.where(Ticket.assignee_id.is_(None))
    elif filters.assignee:
        query = query.where(User.email == filters.assignee)
    if filters.breached:
        query = query.where(breached)
    query = query.order_by(rank, nearest_due.is_(None), nearest_due, Ticket.id).limit(limit + 1)
    tickets = (await session.execute(query)).all()
    more = len(tickets) > limit
    tickets = tickets[:limit]

    clocks: dict[int, list[Any]] = {row.id: [] for row in tickets}
    if clocks:
        clock_rows = await session.execute(
            select(
                SlaClock.ticket_id,
                SlaClock.metric,
                SlaClock.phase,
                SlaClock.due_at,
                SlaClock.warn_at,
                SlaClock.warned_at,
                SlaClock.breached_at,
            ).where(
                SlaClock.ticket_id.in_(list(clocks)),
                SlaClock.task_id.is_(None),
                SlaClock.metric.in_(QUEUE_METRICS),
            )
        )
        for clock in clock_rows:
            clocks[clock.ticket_id].append(clock)

    prefix = ctx.workspace.spec.reference_prefix
    rows = []
    for ticket in tickets:
        state, nearest, warn_at = _ticket_state(clocks[ticket.id], now)
        rows.append(
            QueueRow(
                reference=format_reference(prefix, ticket.id),
                subject=ticket.subject,
                status=ticket.status,
                priority=ticket.priority,
                service_type=ticket.service_type,
                pipeline=ticket.pipeline,
                team=ticket.team,
                assignee_email=ticket.email,
                state=state,
                due_at=nearest.due_at if nearest is not None else None,
                due_metric=nearest.metric if nearest is not None else None,
                warn_at=warn_at,
                countdown=countdown_text(nearest.due_at, now) if nearest is not None else "",
            )
        )
    return QueuePage(rows=rows, more=more, now=now)


def _ticket_state(clocks: list[Any], now: datetime) -> tuple[BadgeState, Any, datetime | None]:
    """Return the ticket's badge, its running clock due soonest, and its next warning.

    The badge is the worst state among the clocks, so a breach counts even when its clock
    has stopped since. A ticket is paused only when none of its clocks is running.
    """
    badges = [
        badge_of_stored(
            phase=clock.phase,
            due_at=clock.due_at,
            warn_at=clock.warn_at,
            warned_at=clock.warned_at,
            breached_at=clock.breached_at,
            now=now,
        )
        for clock in clocks
    ]
    running = [
        clock for clock in clocks if clock.phase == Phase.RUNNING.value and clock.due_at is not None
    ]
    nearest = min(running, key=lambda clock: clock.due_at) if running else None
    upcoming_warnings = [
        clock.warn_at
        for clock in running
        if not is_at_risk(clock.warn_at, clock.warned_at, now) and clock.warn_at is not None
    ]
    warn_at = min(upcoming_warnings) if upcoming_warnings else None
    for state in (BadgeState.BREACHED, BadgeState.AT_RISK, BadgeState.ON_TRACK):
        if state in badges:
            return state, nearest, warn_at
    if BadgeState.PAUSED in badges:
        return BadgeState.PAUSED, nearest, warn_at
    if BadgeState.MET in badges:
        return BadgeState.MET, nearest, warn_at
    return BadgeState.NONE, nearest, warn_at


# Saved views


async def saved_views(session: AsyncSession, user_id: int) -> list[SavedView]:
    rows = await session.execute(
        select(SavedView)
        .where(SavedView.user_id == user_id)
        .order_by(func.lower(SavedView.name), SavedView.id)
    )
    return list(rows.scalars())


def check_view_name(name: str) -> str:
    """Return the name stripped, or raise InvalidInput naming the `name` field."""
    name = name.strip()
    problem = None
    if not name:
        problem = "enter a name for the view"
    elif len(name) > VIEW_NAME_MAX:
        problem = f"the name is too long: at most {VIEW_NAME_MAX} characters"
    elif not name.isprintable():
        problem = "the name contains a control character; remove it"
    if problem is not None:
        raise InvalidInput(problem, details=[{"field": "name", "message": problem}])
    return name


async def save_view(
    session: AsyncSession, *, user_id: int, name: str, filters: QueueFilters, at: datetime
) -> SavedView:
    """Store the filters under `name`; a view of the same name is replaced."""
    name = check_view_name(name)
    existing = (
        await session.execute(
            select(SavedView).where(
                SavedView.user_id == user_id, func.lower(SavedView.name) == name.lower()
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        existing.name = name
        existing.query = filters.query_string()
        return existing
    count = await session.scalar(
        select(func.count()).select_from(SavedView).where(SavedView.user_id == user_id)
    )
    if (count or 0) >= SAVED_VIEWS_MAX:
        problem = f"you have {SAVED_VIEWS_MAX} saved views already; delete one first"
        raise InvalidInput(problem, details=[{"field": "name", "message": problem}])
    view = SavedView(user_id=user_id, name=name, query=filters.query_string(), created_at=at)
    session.add(view)
    return view


async def delete_view(session: AsyncSession, *, user_id: int, view_id: int) -> None:
    """Delete one of the user's views, or raise NotFound (also for another user's view)."""
    result = await session.execute(
        delete(SavedView).where(SavedView.id == view_id, SavedView.user_id == user_id)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise NotFound(f"saved view {view_id} not found")
