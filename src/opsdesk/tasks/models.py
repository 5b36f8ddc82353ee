from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, reference


class Task(Base):
    __tablename__ = "tasks"
    __table_args__ = (Index("ix_tasks_pipeline_stage", "pipeline", "stage"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(reference("tickets.id", ondelete="CASCADE"), index=True)
    template: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    pipeline: Mapped[str] = mapped_column(String(64))
    stage: Mapped[str] = mapped_column(String(64))
    priority: Mapped[str] = mapped_column(String(64))
    team: Mapped[str | None] = mapped_column(String(64))
    assignee_id: Mapped[int | None] = mapped_column(reference("users.id"), index=True)
    due_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
