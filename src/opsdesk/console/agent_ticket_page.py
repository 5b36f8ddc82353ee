"""Read models of the console's ticket page: the ticket, its SLA clocks, tasks and history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.console.agent_clock_display import (
    BadgeState,
    badge_of_view,
    countdown_text,
    is_at_risk,
    maps_url,
)
from opsdesk.context import Context
from opsdesk.errors import InvalidInput
from opsdesk.sla.queries import ticket_sla
from opsdesk.sla.schemas import ClockDetail, ClockEvent
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.queries import ticket_detail
from opsdesk.tickets.schemas import (
    MessageView,
    ReplyRequest,
    ResolutionRisk,
    TaskSummary,
    TicketDetail,
)
from opsdesk.users.models import Role, User
from opsdesk.workspace.schema import TicketStatus

EDITOR_ROLES = frozenset({Role.AGENT.value, Role.SUPERVISOR.value, Role.ADMIN.value})
REASON_MAX = 500
METRIC_TITLES = {
    "first_response": "First response",
    "next_response": "Next response",
    "resolution": "Resolution",
    "operational": "Operational",
}


@dataclass(frozen=True)
class ClockPanel:
    id: int
    title: str
    badge: BadgeState
    running: bool
    due_at: datetime | None
    warn_at: datetime | None
    """The warning instant while it is still ahead, for the live badge."""
    countdown: str
    target_seconds: int | None
    elapsed_seconds: float
    paused_seconds: float
    started_at: datetime
    stopped_at: datetime | None
    breached_at: datetime | None
    due_overridden: bool
    events: list[ClockEvent]


@dataclass(frozen=True)
class TaskRow:
    task: TaskSummary
    stage_name: str
    clock: ClockPanel | None


@dataclass(frozen=True)
class HistoryEntry:
    at: datetime
    kind: str
    actor: str
    message: str
    task: str | None


@dataclass(frozen=True)
class TicketPage:
    ticket_id: int
    detail: TicketDetail
    policy_name: str
    clocks: list[ClockPanel]
    """The ticket's own clocks; task clocks appear with their tasks."""
    tasks: list[TaskRow]
    risks: list[ResolutionRisk]
    messages: list[MessageView]
    history: list[HistoryEntry]
    maps_url: str | None
    actor_names: dict[str, str]
    """Timeline actor (``user:12``, ``customer``) to the name shown for it."""
    now: datetime


def _clock_title(clock: ClockDetail) -> str:
    title = METRIC_TITLES.get(clock.metric, clock.metric.replace("_", " ").capitalize())
    if clock.metric == "next_response" and clock.cycle:
        title += f" (reply {clock.cycle})"
    if clock.task:
        title += f" · {clock.task}"
    return title


def clock_panel(clock: ClockDetail, now: datetime) -> ClockPanel:
    badge = badge_of_view(clock, now)
    running = clock.state == "running"
    upcoming_warn = (
        clock.warn_at if running and not is_at_risk(clock.warn_at, clock.warned_at, now) else None
    )
    return ClockPanel(
        id=clock.id,
        title=_clock_title(clock),
        badge=badge,
        running=running,
        due_at=clock.due_at,
        warn_at=upcoming_warn,
        countdown=countdown_text(clock.due_at, now) if running else "",
        target_seconds=clock.target_seconds,
        elapsed_seconds=clock.business_seconds_elapsed,
        paused_seconds=clock.paused_business_seconds,
        started_at=clock.started_at,
        stopped_at=clock.stopped_at,
        breached_at=clock.breached_at,
        due_overridden=clock.due_override_at is not None,
        events=clock.timeline,
    )


def _stage_name(ctx: Context, task: TaskSummary) -> str:
    """Return the stage's name, or its key if the workspace no longer defines it."""
    try:
        return ctx.workspace.stage(task.pipeline, task.stage).name
    except InvalidInput:
        return task.stage


async def _actor_names(session: AsyncSession, actors: set[str]) -> dict[str, str]:
    """Map timeline actors to the names shown: users by e-mail, rules by key."""
    user_ids = {}
    names = {}
    for actor in actors:
        kind, _, key = actor.partition(":")
        if kind == "user" and key.isdigit():
            user_ids[actor] = int(key)
        elif kind == "escalation" and key:
            names[actor] = f"Escalation rule {key}"
        names.setdefault(actor, actor.replace("_", " ").capitalize())
    if user_ids:
        rows = await session.execute(
            select(User.id, User.email).where(User.id.in_(set(user_ids.values())))
        )
        emails = {user_id: email for user_id, email in rows}
        for actor, user_id in user_ids.items():
            names[actor] = emails.get(user_id, actor)
    return names


async def load_ticket_page(session: AsyncSession, ctx: Context, ticket: Ticket) -> TicketPage:
    now = ctx.clock.now()
    detail = await ticket_detail(session, ctx, ticket)
    sla = await ticket_sla(session, ctx, ticket)
    panels = [(clock, clock_panel(clock, now)) for clock in sla.clocks]
    task_clocks = {clock.task: panel for clock, panel in panels if clock.task is not None}
    names = await _actor_names(session, {entry.actor for entry in detail.timeline})
    return TicketPage(
        ticket_id=ticket.id,
        detail=detail,
        policy_name=sla.policy_name,
        clocks=[panel for clock, panel in panels if clock.task is None],
        tasks=[
            TaskRow(
                task=task,
                stage_name=_stage_name(ctx, task),
                clock=task_clocks.get(task.reference),
            )
            for task in detail.tasks
        ],
        risks=sla.resolution_risks,
        messages=detail.messages,
        history=[
            HistoryEntry(
                at=entry.at,
                kind=entry.kind,
                actor=names.get(entry.actor, entry.actor),
                message=entry.message,
                task=entry.task,
            )
            for entry in detail.timeline
        ],
        maps_url=maps_url(detail.site_address),
        actor_names=names,
        now=now,
    )


async def assignable_users(session: AsyncSession) -> list[User]:
    rows = await session.execute(select(User).where(User.active.is_(True)).order_by(User.email))
    return list(rows.scalars())


def form_options(ctx: Context) -> dict[str, Any]:
    spec = ctx.workspace.spec
    return {
        "statuses": [
            (member.value, member.value.replace("_", " ").capitalize()) for member in TicketStatus
        ],
        "priorities": [(item.key, item.name) for item in spec.priorities],
        "teams": [(item.key, item.name) for item in spec.teams],
    }


def check_message_body(body: str) -> str:
    """Return the reply text as the API would store it, or raise ValueError with the reason."""
    try:
        return ReplyRequest(body=body).body
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "string_too_short":
            raise ValueError("write a message first") from None
        if error["type"] == "string_too_long":
            limit = error.get("ctx", {}).get("max_length")
            raise ValueError(f"the message is too long: at most {limit} characters") from None
        raise ValueError(str(error["msg"]).removeprefix("Value error, ")) from None


def check_reason(reason: str) -> str | None:
    """Return the optional reason stripped (None when empty), or raise ValueError."""
    reason = reason.strip()
    if not reason:
        return None
    if len(reason) > REASON_MAX:
        raise ValueError(f"the reason is too long: at most {REASON_MAX} characters")
    if any(char < " " and char not in "\t\n\r" for char in reason):
        raise ValueError("the reason contains a control character; remove it")
    return reason
