from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, JSONType


class OutboxEvent(Base):
    """An event written in the transaction that caused it and sent by a worker after commit.

    `event_id` is the stable id receivers see as ``webhook-id`` on every attempt.
    """

    __tablename__ = "outbox_events"
    __table_args__ = (
        Index(
            "ix_outbox_events_undispatched",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
        Index(
            "ix_outbox_events_rules_pending",
            "id",
            postgresql_where=text("rules_done_at IS NULL"),
            sqlite_where=text("rules_done_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime]
    ticket_id: Mapped[int | None] = mapped_column(BigIntPK, index=True)
    payload: Mapped[dict[str, Any]]
    dispatched_at: Mapped[datetime | None]
    cause: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, comment="The automation rule whose action caused this event, and chain depth."
    )
    rules_done_at: Mapped[datetime | None]
