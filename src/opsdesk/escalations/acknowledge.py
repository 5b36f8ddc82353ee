"""Acknowledge a clock's warning, breach or escalation: from the console, the API or a link.

An acknowledgement records who took the matter on. It stops the repeats of escalation
levels that first fired before it, and of every level when it comes after the clock's
latest warning or breach (see `opsdesk.sla.ladders.plan_ladder`). Links in notifications
carry a signed token, so the person who gets the notification can acknowledge without
signing in; a token is valid for LINK_DAYS days and names one clock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.errors import Forbidden, NotFound
from opsdesk.events.service import emit
from opsdesk.sla.models import SlaClock
from opsdesk.sla.service import ladder_for, schedule_next_fire
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.service import reference_of
from opsdesk.workspace.models import WorkspaceState

LINK_DAYS = 7
_STATE_ROW = "link_secret"
_secret_cache: dict[str, bytes] = {}


async def link_secret(session: AsyncSession, ctx: Context) -> bytes:
    """Return the key that signs acknowledgement links.

    OPSDESK_SECRET_KEY when set; otherwise a random key created once per database and
    kept in it, so links stay valid across restarts and processes.
    """
    if ctx.settings.secret_key:
        return ctx.settings.secret_key.encode()
    cache_key = ctx.settings.database_url
    if cache_key in _secret_cache:
        return _secret_cache[cache_key]
    state = await session.get(WorkspaceState, _STATE_ROW)
    if state is None:
        try:
            # In a savepoint: another process may create the key at the same moment, and
            # losing that race must not fail the caller's transaction.
            async with session.begin_nested():
                state = WorkspaceState(
                    key=_STATE_ROW, value=secrets.token_hex(32), updated_at=ctx.clock.now()
                )
                session.add(state)
        except IntegrityError:
            state = await session.get(WorkspaceState, _STATE_ROW, populate_existing=True)
            assert state is not None
    _secret_cache[cache_key] = state.value.encode()
    return _secret_cache[cache_key]


def _signature(secret: bytes, clock_id: int, expires: int) -> str:
    digest = hmac.new(secret, f"ack:{clock_id}:{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def ack_token(secret: bytes, clock_id: int, *, now: datetime) -> str:
    expires = int((now + timedelta(days=LINK_DAYS)).timestamp())
    return f"{clock_id}.{expires}.{_signature(secret, clock_id, expires)}"


def clock_of_token(secret: bytes, token: str, *, now: datetime) -> int:
    """Return the clock id a token names, or raise if it is forged or expired."""
    try:
        clock_text, expires_text, signature = token.split(".")
        clock_id, expires = int(clock_text), int(expires_text)
    except ValueError:
        raise NotFound("this acknowledgement link is incomplete; copy the whole link") from None
    if not hmac.compare_digest(signature, _signature(secret, clock_id, expires)):
        raise NotFound("this acknowledgement link is not valid")
    if now.timestamp() > expires:
        raise Forbidden(
            f"this acknowledgement link expired after {LINK_DAYS} days; use the console"
        )
    return clock_id


async def acknowledge(
    session: AsyncSession,
    ctx: Context,
    clock: SlaClock,
    ticket: Ticket,
    *,
    actor: str,
    who: str,
    user_id: int | None,
    at: datetime,
) -> bool:
    """Record the acknowledgement; return False if nothing was left to acknowledge."""
    if clock.warned_at is None and clock.breached_at is None and not clock.ladder:
        return False
    if clock.acknowledged_at is not None and clock.acknowledged_at >= max(
        instant
        for instant in (clock.warned_at, clock.breached_at, clock.started_at)
        if instant is not None
    ):
        return False
    clock.acknowledged_at = at
    clock.acknowledged_by_id = user_id
    level = "breach" if clock.breached_at is not None else "warning"
    timeline.record(
        session,
        ticket_id=ticket.id,
        task_id=clock.task_id,
        clock_id=clock.id,
        at=at,
        kind="escalation.acknowledged",
        actor=actor,
        message=f"{clock.metric} {level} acknowledged by {who}; repeating escalation levels stop",
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
            "by": who,
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


async def clock_and_ticket(session: AsyncSession, clock_id: int) -> tuple[SlaClock, Ticket]:
    clock = (
        await session.execute(select(SlaClock).where(SlaClock.id == clock_id).with_for_update())
    ).scalar_one_or_none()
    if clock is None:
        raise NotFound("the clock of this acknowledgement no longer exists")
    ticket = (
        await session.execute(select(Ticket).where(Ticket.id == clock.ticket_id).with_for_update())
    ).scalar_one()
    return clock, ticket
