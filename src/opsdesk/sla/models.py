from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, JSONType, reference


class SlaClock(Base):
    """One SLA metric of a ticket (or the operational clock of a task).

    `transitions` is the clock's whole history (run, pause, stop with instants and causes);
    every other time column is derived from it with the calendar and kept here so that
    lists can sort and filter by due instant without recomputing.

    `next_fire_at` is the instant the worker must act on this clock next (its warning or
    its breach) and `next_fire_kind` says which. Both are re-derived with every change,
    so a changed clock never fires on a stale instant.
    """

    # Every column the database could fill has a Python default too, so nothing needs
    # reading back after an INSERT. Without this, SQLAlchemy requests RETURNING from SQLite
    # and then inserts a ticket's clocks one statement per row.
    __mapper_args__ = {"eager_defaults": False}  # noqa: RUF012 - read by SQLAlchemy once
    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_ticket", "ticket_id", "metric", "cycle"),
        Index("ix_sla_clocks_due_at", "due_at"),
        # Only clocks with something left to fire are searched by instant, so the index
        # holds only them and its size follows the open work, not the history.
        Index(
            "ix_sla_clocks_next_fire_at",
            "next_fire_at",
            postgresql_where=text("next_fire_at IS NOT NULL"),
            sqlite_where=text("next_fire_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(reference("tickets.id", ondelete="CASCADE"))
    task_id: Mapped[int | None] = mapped_column(
        reference("tasks.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[str] = mapped_column(String(32))
    cycle: Mapped[int] = mapped_column(default=0)
    policy: Mapped[str] = mapped_column(String(64))
    calendar: Mapped[str] = mapped_column(String(64))
    target_seconds: Mapped[int | None]
    warning_fraction: Mapped[float]
    transitions: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    phase: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    due_override_at: Mapped[datetime | None]
    warn_at: Mapped[datetime | None]
    warned_at: Mapped[datetime | None]
    breached_at: Mapped[datetime | None]
    definition: Mapped[str | None] = mapped_column(
        String(80),
        comment="Fingerprints of the policy or pipeline and the calendar last used.",
    )
    next_fire_at: Mapped[datetime | None]
    next_fire_kind: Mapped[str | None] = mapped_column(String(16))
    next_fire_level: Mapped[str | None] = mapped_column(
        String(140), comment="The ladder level that fires next, when next_fire_kind is ladder."
    )
    ladder: Mapped[dict[str, Any]] = mapped_column(
        JSONType,
        default=dict,
        server_default=text("'{}'"),
        comment="Per ladder level: its state and how often it fired.",
    )
    fire_attempts: Mapped[int] = mapped_column(default=0)
    last_fire_error: Mapped[str | None] = mapped_column(String(2000))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by_id: Mapped[int | None] = mapped_column(
        reference("users.id", ondelete="SET NULL"), index=True
    )
    elapsed_seconds: Mapped[float] = mapped_column(default=0.0)
    paused_seconds: Mapped[float] = mapped_column(default=0.0)
