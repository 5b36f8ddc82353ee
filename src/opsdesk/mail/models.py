from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from opsdesk.db import Base, BigIntPK, reference
from opsdesk.events.models import OutboxEvent


class MailDelivery(Base):
    """The outgoing mail for one outbox event, kept until it is sent or given up.

    Every ticket.created, ticket.replied and ticket.status_changed event that the mail job
    reads gets one row, also when no mail is due (status "skipped", with the reason in
    `last_error`), so the job never looks at an event twice. `kind` is the mail kind of
    `opsdesk.mail.templating`, or "status_change" for a status change that is not mailed.
    The message is rendered once, when the row is written, so every attempt sends the same
    subject, body and Message-ID.
    """

    __tablename__ = "mail_deliveries"
    __table_args__ = (
        Index(
            "ix_mail_deliveries_pending_next",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    event_id: Mapped[int] = mapped_column(
        reference("outbox_events.id", ondelete="CASCADE"), unique=True
    )
    ticket_id: Mapped[int | None] = mapped_column(
        reference("tickets.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(998), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(998))
    references: Mapped[str | None] = mapped_column(Text)
    attempt_count: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    first_attempt_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)


# The mail job finds new events by type within a recent time window. The index belongs to
# the outbox table but is declared here, next to the only query that needs it.
Index("ix_outbox_events_type_occurred_at", OutboxEvent.type, OutboxEvent.occurred_at)
