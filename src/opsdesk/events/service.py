"""Write events to the outbox and mark the transaction so workers wake after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.db import new_public_id
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.events.models import OutboxEvent
from opsdesk.wakeups import request_wakeup


def emit(
    session: AsyncSession,
    *,
    type: str,
    at: datetime,
    data: dict[str, Any],
    ticket_id: int | None = None,
) -> OutboxEvent:
    """Add an event to the outbox of the current transaction; nothing is sent before commit."""
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; add it to opsdesk.events.catalog first")
    event = OutboxEvent(
        event_id=new_public_id("evt"),
        type=type,
        occurred_at=at,
        ticket_id=ticket_id,
        payload=data,
        dispatched_at=None,
    )
    session.add(event)
    request_wakeup(session, "outbox")
    return event
