from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK


class Timer(Base):
    __tablename__ = "timers"
    __table_args__ = (
        # Only pending rows are ever searched by due instant, so the index holds only them
        # and its size follows the open work, not the history.
        Index(
            "ix_timers_pending_fire_at",
            "fire_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_timers_clock", "clock_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    clock_id: Mapped[int | None] = mapped_column(ForeignKey("sla_clocks.id", ondelete="CASCADE"))
    fire_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default="pending")
    generation: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
