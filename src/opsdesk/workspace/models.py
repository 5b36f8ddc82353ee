from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base


class WorkspaceState(Base):
    """Small facts about the workspace that processes share, such as the fingerprint of the
    SLA definitions the open clocks were last computed with."""

    __tablename__ = "workspace_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
