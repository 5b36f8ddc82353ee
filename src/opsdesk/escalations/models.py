from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, reference


class EscalationFiring(Base):
    """Proof that one escalation level ran for one clock.

    The unique constraint is what makes a level fire once: a second worker that somehow
    reached the same level would fail to insert and roll back its whole transaction.
    """

    __tablename__ = "escalation_firings"
    __table_args__ = (UniqueConstraint("clock_id", "level"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    clock_id: Mapped[int] = mapped_column(reference("sla_clocks.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(String(140))
    fired_at: Mapped[datetime]
