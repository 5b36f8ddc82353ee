"""Append entries to a ticket's timeline, the history shown to agents and customers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.db import add_row, table_of
from opsdesk.tickets.models import TimelineEntry

SYSTEM = "system"
CUSTOMER = "customer"


def actor_for_user(user_id: int) -> str:
    return f"user:{user_id}"


def record(
    session: AsyncSession,
    *,
    ticket_id: int,
    at: datetime,
    kind: str,
    message: str,
    actor: str = SYSTEM,
    task_id: int | None = None,
    clock_id: int | None = None,
    data: dict[str, Any] | None = None,
) -> None:
    """Add an entry to the ticket's timeline in the current transaction."""
    add_row(
        session,
        table_of(TimelineEntry),
        {
            "ticket_id": ticket_id,
            "task_id": task_id,
            "clock_id": clock_id,
            "at": at,
            "kind": kind,
            "actor": actor,
            "message": message,
            "data": data or {},
        },
    )
