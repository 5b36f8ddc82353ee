"""Worker jobs that send staff notifications by e-mail, Slack and Microsoft Teams.

`send_due_notifications` claims due pending deliveries under a lease, sends them with no
database transaction open, and records each outcome on the delivery row:

- sent: the receiver accepted it;
- skipped: nothing was sent because the channel has no address (no Slack or Teams URL,
  SMTP not configured) or the user was deactivated, with the reason in last_error;
- failed: the receiver refused it for good, or retries ran out, with the last error;
- pending again: a transient failure, retried with exponential backoff until
  OPSDESK_NOTIFICATION_RETRY_SPAN_SECONDS after the delivery was created.

Quiet hours are checked again when a delivery is claimed, because the person may have
changed them since it was queued: a delivery inside them moves to their end unclaimed.

A worker killed mid-send leaves its deliveries leased. Another worker sends them when
the lease runs out, so a notification can arrive twice but is not lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import CursorResult, func, or_, select, update

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.mail.smtp import mail_configured
from opsdesk.notifications.channels import (
    SendResult,
    compose_message,
    email_message,
    notification_message_id,
    post_json,
    send_email,
    slack_body,
    teams_body,
)
from opsdesk.notifications.models import NotificationDelivery
from opsdesk.notifications.preferences import EMAIL, SLACK, TEAMS, quiet_hours_of
from opsdesk.tickets.models import Ticket
from opsdesk.users.models import User

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
# A lease outlives the longest attempt (the HTTP or SMTP timeout) by this much, so no
# second worker takes a delivery whose first attempt is still running.
LEASE_MARGIN_SECONDS = 30.0


@dataclass(frozen=True)
class ClaimedNotification:
    id: int
    channel: str
    user_id: int
    user_active: bool
    email: str
    slack_webhook_url: str | None
    teams_webhook_url: str | None
    event_id: str
    event_type: str
    payload: dict[str, Any]
    attempt_count: int
    created_at: datetime


def lease_seconds(ctx: Context) -> float:
    longest = max(ctx.settings.webhook_timeout_seconds, ctx.settings.smtp_timeout_seconds)
    return max(float(ctx.settings.webhook_lease_seconds), longest + LEASE_MARGIN_SECONDS)


async def claim_notifications(
    db: Database, ctx: Context, *, owner: str, limit: int
) -> list[ClaimedNotification]:
    """Lease up to `limit` due deliveries to `owner`; defer those now in quiet hours."""
    now = ctx.clock.now()
    lease_until = now + timedelta(seconds=lease_seconds(ctx))
    bypass = set(ctx.settings.notification_quiet_hours_bypass_priorities)
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(NotificationDelivery, User, OutboxEvent, Ticket.priority)
                .join(User, User.id == NotificationDelivery.user_id)
                .join(OutboxEvent, OutboxEvent.id == NotificationDelivery.event_id)
                .outerjoin(Ticket, Ticket.id == OutboxEvent.ticket_id)
                .where(
                    NotificationDelivery.status == "pending",
                    NotificationDelivery.next_attempt_at <= now,
                    or_(
                        NotificationDelivery.lease_expires_at.is_(None),
                        NotificationDelivery.lease_expires_at <= now,
                    ),
                )
                .order_by(NotificationDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(of=NotificationDelivery, skip_locked=True)
            )
        ).all()
        claimed = []
        for delivery, user, event, priority in rows:
            quiet = quiet_hours_of(user) if priority not in bypass else None
            quiet_end = quiet.until(now) if quiet is not None else None
            if quiet_end is not None:
                delivery.next_attempt_at = quiet_end
                continue
            delivery.lease_owner = owner
            delivery.lease_expires_at = lease_until
            claimed.append(
                ClaimedNotification(
                    id=delivery.id,
                    channel=delivery.channel,
                    user_id=user.id,
                    user_active=user.active,
                    email=user.email,
                    slack_webhook_url=user.slack_webhook_url,
                    teams_webhook_url=user.teams_webhook_url,
                    event_id=event.event_id,
                    event_type=event.type,
                    payload=event.payload,
                    attempt_count=delivery.attempt_count,
                    created_at=delivery.created_at,
                )
            )
    return claimed


def skip_reason(ctx: Context, item: ClaimedNotification) -> str | None:
    """Return why the delivery cannot be sent at all, or None when it has an address."""
    if not item.user_active:
        return "the user was deactivated after the notification was queued"
    if item.channel == EMAIL and not mail_configured(ctx.settings):
        return "SMTP not configured: set OPSDESK_SMTP_HOST and OPSDESK_MAIL_FROM"
    if item.channel == SLACK and not item.slack_webhook_url:
        return "no Slack webhook URL set in the user's notification preferences"
    if item.channel == TEAMS and not item.teams_webhook_url:
        return "no Teams webhook URL set in the user's notification preferences"
    if item.channel not in (EMAIL, SLACK, TEAMS):
        return f"unknown channel {item.channel!r}"
    return None


async def send_notification(
    client: httpx.AsyncClient,
    ctx: Context,
    item: ClaimedNotification,
) -> SendResult:
    """Make one attempt to send a claimed delivery that has an address.

    Slack and Teams requests go through `client`, which should be the worker's guarded
    `opsdesk.webhooks.guard.outbound_client`, so a URL pointing at an internal address
    fails instead of reaching it.
    """
    message = compose_message(item.event_type, item.payload, base_url=ctx.settings.base_url)
    now = ctx.clock.now()
    if item.channel == EMAIL:
        mail = email_message(
            ctx.settings,
            message,
            recipient=item.email,
            message_id=notification_message_id(
                ctx.settings, delivery_id=item.id, event_id=item.event_id
            ),
            at=now,
        )
        return await send_email(ctx.settings, mail)
    if item.channel == SLACK:
        url, body = item.slack_webhook_url, slack_body(message)
    else:
        url, body = item.teams_webhook_url, teams_body(message)
    assert url is not None, "skip_reason rules out a missing URL"
    return await post_json(
        client, url, body, timeout_seconds=ctx.settings.webhook_timeout_seconds, now=now
    )


def backoff_seconds(
    attempt: int, *, retry_after: float | None, rng: random.Random | None = None
) -> float:
    """Delay before attempt `attempt + 1`: exponential from 30 s with jitter, capped at 1 h.

    A Retry-After from the receiver is honoured when it requests a longer delay.
    """
    rng = rng or random.Random()
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    return max(delay, retry_after) if retry_after is not None else delay


async def record_outcome(
    db: Database,
    ctx: Context,
    item: ClaimedNotification,
    *,
    owner: str,
    result: SendResult | None,
    skipped: str | None = None,
) -> str:
    """Store the outcome of one claimed delivery and return it.

    The outcome is sent, skipped, retry or failed, or lease_expired when another worker
    took the delivery meanwhile (the row is then left to that worker).
    """
    now = ctx.clock.now()
    values: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}
    if skipped is not None:
        outcome = "skipped"
        values["last_error"] = skipped
    else:
        assert result is not None
        number = item.attempt_count + 1
        values["attempt_count"] = NotificationDelivery.attempt_count + 1
        values["last_error"] = result.error
        if result.error is None:
            outcome = "sent"
        elif not result.retryable:
            outcome = "failed"
        else:
            delay = backoff_seconds(number, retry_after=result.retry_after)
            retry_at = now + timedelta(seconds=delay)
            give_up_at = item.created_at + timedelta(
                seconds=ctx.settings.notification_retry_span_seconds
            )
            outcome = "retry" if retry_at <= give_up_at else "failed"
            values["next_attempt_at"] = retry_at
    if outcome != "retry":
        values |= {"status": outcome, "completed_at": now}
    async with db.transaction() as session:
        moved = await session.execute(
            update(NotificationDelivery)
            .where(
                NotificationDelivery.id == item.id,
                NotificationDelivery.status == "pending",
                NotificationDelivery.lease_owner == owner,
            )
            .values(**values)
        )
        assert isinstance(moved, CursorResult)
        if moved.rowcount == 0:
            outcome = "lease_expired"
    _log_outcome(item, outcome=outcome, result=result, skipped=skipped, owner=owner)
    return outcome


def _log_outcome(
    item: ClaimedNotification,
    *,
    outcome: str,
    result: SendResult | None,
    skipped: str | None,
    owner: str,
) -> None:
    label = f"notification {item.id} ({item.channel}, event {item.event_id}, user {item.user_id})"
    if outcome == "lease_expired":
        logger.warning(
            "%s: attempt by %s ended after its lease expired and another worker took it; "
            "its outcome changes nothing",
            label,
            owner,
        )
    elif outcome == "skipped":
        logger.info("%s skipped: %s", label, skipped)
    elif outcome == "sent":
        assert result is not None
        logger.info("%s sent in %.0f ms", label, result.duration_ms)
    else:
        assert result is not None
        logger.warning(
            "%s attempt %d: %s: %s",
            label,
            item.attempt_count + 1,
            "will retry" if outcome == "retry" else "failed for good",
            result.error,
        )


async def send_due_notifications(
    db: Database,
    ctx: Context,
    client: httpx.AsyncClient,
    *,
    owner: str,
    limit: int = 50,
    concurrency: int = 8,
) -> int:
    """Send up to `limit` due deliveries, `concurrency` at a time; return how many were handled.

    Each batch is claimed only when the previous one is done, so no claimed delivery
    waits for a free slot while its lease runs out.
    """

    async def handle(item: ClaimedNotification) -> None:
        reason = skip_reason(ctx, item)
        if reason is not None:
            await record_outcome(db, ctx, item, owner=owner, result=None, skipped=reason)
            return
        result = await send_notification(client, ctx, item)
        await record_outcome(db, ctx, item, owner=owner, result=result)

    handled = 0
    while handled < limit:
        claimed = await claim_notifications(
            db, ctx, owner=owner, limit=min(concurrency, limit - handled)
        )
        if not claimed:
            break
        await asyncio.gather(*(handle(item) for item in claimed))
        handled += len(claimed)
    return handled


async def next_notification_at(db: Database) -> datetime | None:
    """Return when the next pending delivery becomes due (a leased one when its lease ends)."""
    async with db.read() as session:
        due = func.coalesce(
            NotificationDelivery.lease_expires_at, NotificationDelivery.next_attempt_at
        )
        value: datetime | None = (
            await session.execute(
                select(func.min(due)).where(NotificationDelivery.status == "pending")
            )
        ).scalar_one_or_none()
        return value
