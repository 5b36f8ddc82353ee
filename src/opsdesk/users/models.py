from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, reference


class Role(StrEnum):
    AGENT = "agent"
    TECHNICIAN = "technician"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    failed_sign_ins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    away_until: Mapped[datetime | None] = mapped_column(
        comment="Automatic assignment skips the user until then."
    )
    timezone: Mapped[str | None] = mapped_column(String(64), comment="IANA zone for quiet hours.")
    quiet_hours_start: Mapped[str | None] = mapped_column(String(5), comment="HH:MM local time.")
    quiet_hours_end: Mapped[str | None] = mapped_column(String(5), comment="HH:MM local time.")
    slack_webhook_url: Mapped[str | None] = mapped_column(String(2000))
    teams_webhook_url: Mapped[str | None] = mapped_column(String(2000))


class TeamMember(Base):
    __tablename__ = "team_members"

    user_id: Mapped[int] = mapped_column(
        reference("users.id", ondelete="CASCADE"), primary_key=True
    )
    team: Mapped[str] = mapped_column(String(64), primary_key=True)


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(reference("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(reference("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class SavedView(Base):
    """A named set of queue filters that one user saved."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    user_id: Mapped[int] = mapped_column(reference("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    query: Mapped[str] = mapped_column(String(2000), comment="The queue's query string.")
    created_at: Mapped[datetime]
