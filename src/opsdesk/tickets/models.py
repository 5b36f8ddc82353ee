from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from opsdesk.db import Base, BigIntPK, JSONType, reference
from opsdesk.sla.models import SlaClock
from opsdesk.tasks.models import Task
from opsdesk.workspace.runtime import TicketFacts


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_status_priority", "status", "priority"),
        Index("ix_tickets_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(64))
    service_type: Mapped[str] = mapped_column(String(64))
    pipeline: Mapped[str] = mapped_column(String(64))
    contact_method: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(32))
    sla_policy: Mapped[str] = mapped_column(String(64))
    requester_name: Mapped[str] = mapped_column(String(200))
    requester_email: Mapped[str | None] = mapped_column(String(320))
    requester_phone: Mapped[str | None] = mapped_column(String(40))
    site_address: Mapped[str | None] = mapped_column(String(500))
    team: Mapped[str | None] = mapped_column(String(64))
    assignee_id: Mapped[int | None] = mapped_column(reference("users.id"), index=True)
    status_token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    external_ref: Mapped[str | None] = mapped_column(String(100), index=True)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    first_response_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    clocks: Mapped[list[SlaClock]] = relationship(
        primaryjoin="and_(SlaClock.ticket_id == Ticket.id, SlaClock.task_id.is_(None))",
        order_by="(SlaClock.metric, SlaClock.cycle)",
        lazy="select",
    )
    """The ticket's own SLA clocks (task clocks are not included). Load it with
    `await ticket.awaitable_attrs.clocks`; once loaded it is kept with the ticket."""

    tasks: Mapped[list[Task]] = relationship(order_by="Task.id", lazy="select")
    """Load it with `await ticket.awaitable_attrs.tasks`."""

    def facts(self) -> TicketFacts:
        """Return the fields that SLA policy and escalation conditions test."""
        return TicketFacts(
            service_type=self.service_type,
            pipeline=self.pipeline,
            contact_method=self.contact_method,
            priority=self.priority,
            channel=self.channel,
        )


class TicketMessage(Base):
    """A public reply (agent or customer) or an internal note."""

    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(reference("tickets.id", ondelete="CASCADE"), index=True)
    author_kind: Mapped[str] = mapped_column(String(16))
    author_user_id: Mapped[int | None] = mapped_column(reference("users.id"), index=True)
    public: Mapped[bool]
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    email_message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    """Message-ID (with angle brackets) of the e-mail this message arrived in, if any."""


class TimelineEntry(Base):
    """One line of a ticket's history: what happened, when, who did it and why."""

    __tablename__ = "timeline_entries"
    __table_args__ = (Index("ix_timeline_entries_ticket_at", "ticket_id", "at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(reference("tickets.id", ondelete="CASCADE"))
    # Foreign keys are checked at commit, and SQLite then looks up the child rows of
    # every inserted parent, so each child column needs an index.
    task_id: Mapped[int | None] = mapped_column(
        reference("tasks.id", ondelete="CASCADE"), index=True
    )
    clock_id: Mapped[int | None] = mapped_column(
        reference("sla_clocks.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class IdempotencyKey(Base):
    """The first response to an intake request sent with an Idempotency-Key header."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int] = mapped_column(reference("tickets.id", ondelete="CASCADE"), index=True)
    response: Mapped[dict[str, Any]]
    created_at: Mapped[datetime]


class Attachment(Base):
    """A file a customer attached to a request, kept in the database with the ticket."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(reference("tickets.id", ondelete="CASCADE"), index=True)
    message_id: Mapped[int | None] = mapped_column(
        reference("ticket_messages.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size_bytes: Mapped[int]
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]
