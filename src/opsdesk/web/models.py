"""Rows the web layer keeps: the intake rate limit buckets shared by API processes."""

from __future__ import annotations

from sqlalchemy import Float, String
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base


class RateLimitBucket(Base):
    """One token bucket of the intake rate limit, read and written by every API process.

    Used on PostgreSQL only, through the database function `opsdesk_take_rate_tokens`;
    a SQLite deployment runs one process, which keeps its buckets in memory. A row whose
    bucket has refilled is the same as no row, so rows can be deleted at any time.
    """

    __tablename__ = "rate_limit_buckets"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    """"address" or "origin"."""
    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refreshed_at: Mapped[float] = mapped_column(Float)
    """Seconds since the epoch when `tokens` was counted."""
