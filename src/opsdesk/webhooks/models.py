from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, JSONType, reference


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    workspace_key: Mapped[str | None] = mapped_column(
        String(64), unique=True, comment="Set for subscriptions declared in the workspace file."
    )
    kind: Mapped[str] = mapped_column(String(16))
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[str | None] = mapped_column(String(200))
    event_types: Mapped[list[str]] = mapped_column(JSONType)
    description: Mapped[str | None] = mapped_column(String(500))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    disabled_at: Mapped[datetime | None]
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    conditions: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, comment="A rule-style condition on the event's data; only matching events go."
    )
    headers: Mapped[dict[str, str] | None] = mapped_column(
        JSONType, comment="Extra HTTP headers sent with every delivery."
    )
    payload_template: Mapped[str | None] = mapped_column(
        Text, comment="A sandboxed Jinja2 template that renders the JSON body."
    )
    previous_secret: Mapped[str | None] = mapped_column(
        String(200), comment="The secret before the last rotation, still signed with."
    )
    previous_secret_expires_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None] = mapped_column(
        comment="Start of the current run of failed deliveries; cleared by a success."
    )


class WebhookDelivery(Base):
    """One event on its way to one subscription, across all its attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id"),
        Index(
            "ix_webhook_deliveries_pending_next",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        Index("ix_webhook_deliveries_subscription", "subscription_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(64), unique=True)
    event_id: Mapped[int] = mapped_column(reference("outbox_events.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(
        reference("webhook_subscriptions.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    first_attempt_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        reference("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    started_at: Mapped[datetime]
    duration_ms: Mapped[float]
    request_url: Mapped[str] = mapped_column(String(2000))
    request_headers: Mapped[dict[str, Any]]
    request_body: Mapped[str | None] = mapped_column(
        Text, comment="The body as sent, cut to its first 16 KiB; null if none was built."
    )
    request_body_bytes: Mapped[int | None] = mapped_column(
        comment="Size of the whole body in bytes, also when request_body holds only its start."
    )
    status_code: Mapped[int | None]
    response_headers: Mapped[dict[str, str] | None] = mapped_column(
        JSONType, comment="Response headers with secret-looking values masked."
    )
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))
    worker: Mapped[str] = mapped_column(String(100))


class InboundEvent(Base):
    """A request received from another system through /api/v1/inbound/{source}.

    `external_id` stores the request's ``webhook-id``, which a sender keeps for every retry
    of one message, so the unique (source, external_id) makes a retry change nothing.
    The id that threads messages to a ticket is in the ticket's `external_ref`.
    """

    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    ticket_id: Mapped[int | None] = mapped_column(
        reference("tickets.id", ondelete="SET NULL"), index=True
    )
    outcome: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]
