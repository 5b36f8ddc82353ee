"""Write events to the outbox and mark the transaction so workers wake after commit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.db import add_row, new_public_id, table_of
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.events.models import OutboxEvent
from opsdesk.wakeups import request_wakeup

CAUSE_KEY = "opsdesk_event_cause"
"""Session info key: while an automation rule acts, the events it causes carry its name."""


def emit(
    session: AsyncSession,
    *,
    type: str,
    at: datetime,
    data: dict[str, Any],
    ticket_id: int | None = None,
) -> str:
    """Add an event to the outbox of the current transaction and return its stable id.

    Nothing is sent before commit; a worker sends it after.
    """
    if type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {type!r}; add it to opsdesk.events.catalog first")
    event_id = new_public_id("evt")
    add_row(
        session,
        table_of(OutboxEvent),
        {
            "event_id": event_id,
            "type": type,
            "occurred_at": at,
            "ticket_id": ticket_id,
            "payload": data,
            "dispatched_at": None,
            "cause": session.sync_session.info.get(CAUSE_KEY),
            "rules_done_at": None,
        },
    )
    request_wakeup(session, "outbox")
    return event_id
