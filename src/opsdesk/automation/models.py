from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, JSONType, reference


class AutomationRule(Base):
    """A rule created through the API; rules from the workspace file are not stored."""

    __tablename__ = "automation_rules"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    position: Mapped[int] = mapped_column(
        comment="Order among API rules; workspace rules run first."
    )
    definition: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class RuleTimer(Base):
    """A time-triggered rule waiting for one ticket, fired by the worker at `fire_at`."""

    __tablename__ = "rule_timers"
    __table_args__ = (
        UniqueConstraint("ticket_id", "rule_key", "entered_at"),
        Index(
            "ix_rule_timers_pending_fire_at",
            "fire_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_rule_timers_ticket", "ticket_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(reference("tickets.id", ondelete="CASCADE"))
    rule_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    waits_for: Mapped[str] = mapped_column(
        String(32), comment="The ticket status the rule waits on."
    )
    entered_at: Mapped[datetime] = mapped_column(comment="When the ticket entered that status.")
    fire_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class AssignmentCursor(Base):
    """Who in a team got the last round-robin assignment."""

    __tablename__ = "assignment_cursors"

    team: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_user_id: Mapped[int | None]
