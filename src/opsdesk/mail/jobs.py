"""Worker jobs that send mail for outbox events, after the action that caused them committed.

`queue_mail` writes one MailDelivery row per new ticket.created (an acknowledgement to
the requester), ticket.replied (the agent's public reply) and ticket.status_changed
event (a notice when the ticket is resolved, waits on the customer or is reopened, and a
skipped row for other changes). `send_due_mail` claims due rows under a lease, sends them
with no database transaction open, and records the outcome on the row. When the SMTP
server cannot be reached or replies with a temporary error, the row stays pending and is
tried again with exponential backoff until OPSDESK_MAIL_RETRY_SPAN_SECONDS after its
first attempt, so a failing server delays mail but does not lose it. A worker killed
mid-send leaves its row leased; another worker sends it when the lease runs out, so a
mail can arrive twice (with the same Message-ID) but is never dropped.

`run_mail_jobs` does both and is what a worker loop calls; `next_mail_at` says when it
next has work.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib
from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.mail.models import MailDelivery
from opsdesk.mail.smtp import (
    OutgoingMail,
    build_message,
    mail_configured,
    new_message_id,
    send_message,
)
from opsdesk.mail.templating import (
    ACKNOWLEDGEMENT,
    AGENT_REPLY,
    REOPENED,
    RESOLVED,
    STATUS_KINDS,
    WAITING_ON_CUSTOMER,
    render_mail,
    topic_of,
)
from opsdesk.schema_types import TicketStatus
from opsdesk.tickets.models import Ticket, TicketMessage
from opsdesk.tickets.service import CUSTOMER_REPLY_REASON, reference_of

logger = logging.getLogger(__name__)

MAIL_EVENT_TYPES = ("ticket.created", "ticket.replied", "ticket.status_changed")
# The kind stored on the skipped row of a status change that sends no mail.
UNMAILED_STATUS_CHANGE = "status_change"
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
# A lease outlives the SMTP timeout by this much, so no second worker takes a row
# whose first attempt is still running.
LEASE_MARGIN_SECONDS = 60.0
# References keeps the first message of the thread and the newest ones.
MAX_REFERENCES = 10


async def run_mail_jobs(db: Database, ctx: Context, *, owner: str) -> int:
    """Queue mail for new events and send what is due; return how much work was done.

    Returns 0 without touching the database when outgoing mail is not configured.
    """
    if not mail_configured(ctx.settings):
        return 0
    queued = await queue_mail(db, ctx)
    sent = await send_due_mail(db, ctx, owner=owner)
    return queued + sent


async def next_mail_at(db: Database) -> datetime | None:
    """Return when the next pending mail becomes due (a leased one when its lease ends)."""
    async with db.read() as session:
        due = func.coalesce(MailDelivery.lease_expires_at, MailDelivery.next_attempt_at)
        value: datetime | None = (
            await session.execute(select(func.min(due)).where(MailDelivery.status == "pending"))
        ).scalar_one_or_none()
        return value


# Queueing -------------------------------------------------------------------------------


async def queue_mail(db: Database, ctx: Context, *, limit: int = 100) -> int:
    """Write a delivery row for up to `limit` new events; return how many were handled.

    Only events younger than OPSDESK_MAIL_MAX_EVENT_AGE_SECONDS are considered, so
    turning outgoing mail on does not mail the whole history.
    """
    now = ctx.clock.now()
    since = now - timedelta(seconds=ctx.settings.mail_max_event_age_seconds)
    async with db.transaction() as session:
        events = list(
            (
                await session.execute(
                    select(OutboxEvent)
                    .outerjoin(MailDelivery, MailDelivery.event_id == OutboxEvent.id)
                    .where(
                        OutboxEvent.type.in_(MAIL_EVENT_TYPES),
                        OutboxEvent.occurred_at >= since,
                        MailDelivery.id.is_(None),
                    )
                    .order_by(OutboxEvent.id)
                    .limit(limit)
                    .with_for_update(of=OutboxEvent, skip_locked=True)
                )
            ).scalars()
        )
        for event in events:
            session.add(await _delivery_for(session, ctx, event, now=now))
    return len(events)


def mail_kind(event_type: str, payload: dict[str, Any]) -> str | None:
    """Return the kind of mail an event sends the requester, or None if it sends none.

    A status change is mailed when the ticket becomes resolved or waiting_on_customer, or
    leaves resolved for any status but closed (reopened).
    """
    if event_type == "ticket.created":
        return ACKNOWLEDGEMENT
    if event_type == "ticket.replied":
        return AGENT_REPLY
    if event_type != "ticket.status_changed":
        return None
    to_status, from_status = payload.get("to"), payload.get("from")
    if to_status == TicketStatus.RESOLVED:
        return RESOLVED
    if to_status == TicketStatus.WAITING_ON_CUSTOMER:
        return WAITING_ON_CUSTOMER
    if from_status == TicketStatus.RESOLVED and to_status != TicketStatus.CLOSED:
        return REOPENED
    return None


async def _delivery_for(
    session: AsyncSession, ctx: Context, event: OutboxEvent, *, now: datetime
) -> MailDelivery:
    kind = mail_kind(event.type, event.payload)
    delivery = MailDelivery(
        event_id=event.id,
        ticket_id=event.ticket_id,
        kind=kind or UNMAILED_STATUS_CHANGE,
        status="skipped",
        attempt_count=0,
        next_attempt_at=now,
        created_at=now,
    )
    ticket = await session.get(Ticket, event.ticket_id) if event.ticket_id is not None else None
    skip_reason = _skip_reason(ctx, kind, ticket, event.payload)
    if skip_reason is not None or ticket is None or kind is None:
        delivery.ticket_id = ticket.id if ticket is not None else None
        delivery.last_error = skip_reason or "the ticket no longer exists"
        delivery.completed_at = now
        return delivery
    mail = await _compose(session, ctx, kind, ticket, event.payload)
    delivery.status = "pending"
    delivery.recipient = mail.recipient
    delivery.subject = mail.subject
    delivery.body = mail.body
    delivery.message_id = mail.message_id
    delivery.in_reply_to = mail.in_reply_to
    delivery.references = " ".join(mail.references) or None
    return delivery


def _skip_reason(
    ctx: Context, kind: str | None, ticket: Ticket | None, payload: dict[str, Any]
) -> str | None:
    if kind is None:
        return f"a status change from {payload.get('from')} to {payload.get('to')} is not mailed"
    if ticket is None:
        return "the ticket no longer exists"
    if not ticket.requester_email:
        return "the requester has no e-mail address"
    template = ctx.workspace.spec.mail.templates.get(kind)
    if template is not None and not template.enabled:
        return f"the workspace file turns {kind} mail off (mail.templates.{kind}.enabled)"
    if kind == ACKNOWLEDGEMENT and ticket.channel not in ctx.settings.mail_acknowledge_channels:
        return f"tickets from channel {ticket.channel} are not acknowledged by mail"
    if kind == AGENT_REPLY and not payload.get("public", False):
        return "internal notes are not mailed"
    if kind == REOPENED and payload.get("reason") == CUSTOMER_REPLY_REASON:
        return "the customer's own reply reopened the ticket"
    return None


async def _compose(
    session: AsyncSession, ctx: Context, kind: str, ticket: Ticket, payload: dict[str, Any]
) -> OutgoingMail:
    reference = reference_of(ctx, ticket)
    is_status_mail = kind in STATUS_KINDS
    context = {
        "reference": reference,
        "subject": ticket.subject,
        "topic": topic_of(ticket.subject),
        "requester_name": ticket.requester_name,
        "workspace_name": ctx.workspace.name,
        "body": str(payload.get("body", "")) if kind == AGENT_REPLY else "",
        "status": str(payload.get("to") or "") if is_status_mail else "",
        "previous_status": str(payload.get("from") or "") if is_status_mail else "",
    }
    template = ctx.workspace.spec.mail.templates.get(kind)
    subject, body = render_mail(
        kind,
        context,
        subject_source=template.subject if template else None,
        body_source=template.body if template else None,
    )
    thread = await _thread_message_ids(session, ticket.id)
    references = thread[:1] + thread[1:][-(MAX_REFERENCES - 1) :] if thread else []
    assert ticket.requester_email is not None
    return OutgoingMail(
        kind=kind,
        recipient=ticket.requester_email,
        subject=subject,
        body=body,
        message_id=new_message_id(ctx.settings, reference),
        in_reply_to=thread[-1] if thread else None,
        references=tuple(references),
    )


async def _thread_message_ids(session: AsyncSession, ticket_id: int) -> list[str]:
    """Message-IDs the ticket's mail thread has so far, oldest first."""
    received = await session.execute(
        select(TicketMessage.created_at, TicketMessage.id, TicketMessage.email_message_id).where(
            TicketMessage.ticket_id == ticket_id, TicketMessage.email_message_id.is_not(None)
        )
    )
    sent = await session.execute(
        select(MailDelivery.created_at, MailDelivery.id, MailDelivery.message_id).where(
            MailDelivery.ticket_id == ticket_id,
            MailDelivery.message_id.is_not(None),
            MailDelivery.status.in_(("pending", "sent")),
        )
    )
    # At equal times a received mail comes before the mail that replied to it.
    rows: list[tuple[datetime, int, int, str]] = []
    for at, row_id, value in received:
        if value is not None:
            rows.append((at, 0, row_id, value))
    for at, row_id, value in sent:
        if value is not None:
            rows.append((at, 1, row_id, value))
    rows.sort()
    return list(dict.fromkeys(value for _, _, _, value in rows))


# Sending --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimedMail:
    id: int
    mail: OutgoingMail
    attempt_count: int
    first_attempt_at: datetime | None


async def claim_mail(db: Database, ctx: Context, *, owner: str, limit: int) -> list[ClaimedMail]:
    """Lease up to `limit` due deliveries to `owner`."""
    now = ctx.clock.now()
    lease = timedelta(seconds=ctx.settings.smtp_timeout_seconds + LEASE_MARGIN_SECONDS)
    async with db.transaction() as session:
        rows = list(
            (
                await session.execute(
                    select(MailDelivery)
                    .where(
                        MailDelivery.status == "pending",
                        MailDelivery.next_attempt_at <= now,
                        or_(
                            MailDelivery.lease_expires_at.is_(None),
                            MailDelivery.lease_expires_at <= now,
                        ),
                    )
                    .order_by(MailDelivery.next_attempt_at)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        claimed = []
        for row in rows:
            row.lease_owner = owner
            row.lease_expires_at = now + lease
            claimed.append(
                ClaimedMail(
                    id=row.id,
                    mail=OutgoingMail(
                        kind=row.kind,
                        recipient=row.recipient or "",
                        subject=row.subject or "",
                        body=row.body or "",
                        message_id=row.message_id or "",
                        in_reply_to=row.in_reply_to,
                        references=tuple((row.references or "").split()),
                    ),
                    attempt_count=row.attempt_count,
                    first_attempt_at=row.first_attempt_at,
                )
            )
    return claimed


async def send_due_mail(db: Database, ctx: Context, *, owner: str, limit: int = 20) -> int:
    """Send up to `limit` due mails one after another; return how many were attempted.

    Each mail is claimed just before it is sent, so its lease never runs out while it
    waits behind a slow earlier one.
    """
    attempted = 0
    while attempted < limit:
        claimed = await claim_mail(db, ctx, owner=owner, limit=1)
        if not claimed:
            break
        await _attempt(db, ctx, claimed[0], owner=owner)
        attempted += 1
    return attempted


async def _attempt(db: Database, ctx: Context, item: ClaimedMail, *, owner: str) -> None:
    started_at = ctx.clock.now()
    error: str | None = None
    permanent = False
    try:
        await send_message(ctx.settings, build_message(ctx.settings, item.mail, at=started_at))
    except (aiosmtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        permanent = is_permanent_failure(exc)
    await record_attempt(
        db, ctx, item, owner=owner, started_at=started_at, error=error, permanent=permanent
    )


def is_permanent_failure(exc: BaseException) -> bool:
    """Return whether the server rejected the sender, recipient or content with a 5xx reply.

    Those fail the same way on every attempt. Authentication failures and every other
    error are retried, because fixing the settings or the server makes them pass.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return bool(exc.recipients) and all(item.code >= 500 for item in exc.recipients)
    if isinstance(
        exc,
        aiosmtplib.SMTPRecipientRefused | aiosmtplib.SMTPSenderRefused | aiosmtplib.SMTPDataError,
    ):
        return exc.code >= 500
    return False


def backoff_seconds(attempt: int, *, rng: random.Random | None = None) -> float:
    """Delay before attempt `attempt + 1`: exponential from 30 s, capped at 1 h, with jitter."""
    rng = rng or random.Random()
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


async def record_attempt(
    db: Database,
    ctx: Context,
    item: ClaimedMail,
    *,
    owner: str,
    started_at: datetime,
    error: str | None,
    permanent: bool,
) -> str:
    """Store the outcome of one attempt and return it: sent, retry, failed or lease_expired."""
    now = ctx.clock.now()
    number = item.attempt_count + 1
    first_attempt_at = item.first_attempt_at or started_at
    values: dict[str, Any] = {
        "attempt_count": MailDelivery.attempt_count + 1,
        "first_attempt_at": first_attempt_at,
        "last_error": error,
        "lease_owner": None,
        "lease_expires_at": None,
    }
    if error is None:
        outcome = "sent"
    elif permanent:
        outcome = "failed"
    else:
        retry_at = now + timedelta(seconds=backoff_seconds(number))
        give_up_at = first_attempt_at + timedelta(seconds=ctx.settings.mail_retry_span_seconds)
        outcome = "retry" if retry_at <= give_up_at else "failed"
        values["next_attempt_at"] = retry_at
    if outcome != "retry":
        values["status"] = outcome
        values["completed_at"] = now
    async with db.transaction() as session:
        moved = await session.execute(
            update(MailDelivery)
            .where(
                MailDelivery.id == item.id,
                MailDelivery.status == "pending",
                MailDelivery.lease_owner == owner,
            )
            .values(**values)
        )
        assert isinstance(moved, CursorResult)
        if moved.rowcount == 0:
            outcome = "lease_expired"
    _log_attempt(item, number=number, outcome=outcome, error=error, owner=owner)
    return outcome


def _log_attempt(
    item: ClaimedMail, *, number: int, outcome: str, error: str | None, owner: str
) -> None:
    mail = item.mail
    if outcome == "sent":
        logger.info(
            "mail %d (%s %s) to %s attempt %d: sent",
            item.id,
            mail.kind,
            mail.message_id,
            mail.recipient,
            number,
        )
    elif outcome == "lease_expired":
        logger.warning(
            "mail %d attempt %d by %s ended after its lease expired and another worker "
            "took it; the outcome (%s) changes nothing",
            item.id,
            number,
            owner,
            error or "sent",
        )
    else:
        logger.warning(
            "mail %d (%s %s) to %s attempt %d: %s: %s",
            item.id,
            mail.kind,
            mail.message_id,
            mail.recipient,
            number,
            "will retry" if outcome == "retry" else "failed for good",
            error,
        )
