"""Automatic disabling of subscriptions whose receiver is gone or keeps failing.

`failing_since` marks the first failed attempt after the last success. A subscription is
disabled when an attempt fails OPSDESK_WEBHOOK_DISABLE_AFTER_SECONDS or longer after that
mark, or at once when the receiver answers 410 Gone. Disabling stops its pending
deliveries, emits ``webhook.disabled`` and notifies every admin. An inactive subscription
whose `failing_since` is set was disabled this way; enabling it clears the mark.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.events.service import emit
from opsdesk.notifications.service import notify_users, write_notifications
from opsdesk.sla.policies import format_span
from opsdesk.users.service import users_with
from opsdesk.webhooks.models import WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)

GONE = 410


def is_auto_disabled(subscription: WebhookSubscription) -> bool:
    return not subscription.active and subscription.failing_since is not None


def receiver_host(subscription: WebhookSubscription) -> str:
    """The URL's host: safe to log and show, unlike a Slack URL, which is a secret itself."""
    return urlsplit(subscription.url).hostname or "no host"


def disable_reason(
    subscription: WebhookSubscription,
    *,
    status_code: int | None,
    attempt_at: datetime,
    limit: timedelta,
) -> str | None:
    """Return why a failed attempt at `attempt_at` disables the subscription, or None."""
    if status_code == GONE:
        return "the receiver answered 410 Gone, so it no longer takes deliveries"
    failing_since = subscription.failing_since
    if failing_since is None or attempt_at - failing_since < limit:
        return None
    return (
        f"every delivery attempt failed for {format_span(attempt_at - failing_since)}, "
        f"since {failing_since.isoformat()}, which reaches the limit of {format_span(limit)}"
    )


async def note_attempt(
    session: AsyncSession,
    ctx: Context,
    subscription: WebhookSubscription,
    *,
    succeeded: bool,
    status_code: int | None,
    attempt_at: datetime,
) -> str | None:
    """Track the subscription's failing run after an attempt; return the reason if disabled.

    The caller holds the subscription's row lock, so concurrent attempts see each other.
    """
    if not subscription.active:
        return None
    if succeeded:
        subscription.failing_since = None
        return None
    if subscription.failing_since is None:
        subscription.failing_since = attempt_at
    reason = disable_reason(
        subscription,
        status_code=status_code,
        attempt_at=attempt_at,
        limit=timedelta(seconds=ctx.settings.webhook_disable_after_seconds),
    )
    if reason is not None:
        await disable_subscription(session, ctx, subscription, reason=reason)
    return reason


async def disable_subscription(
    session: AsyncSession, ctx: Context, subscription: WebhookSubscription, *, reason: str
) -> int:
    """Deactivate the subscription, stop its deliveries and tell the admins.

    Deliveries waiting for an attempt are marked failed. One a worker is sending right
    now is marked failed when that attempt ends, unless it succeeds. Returns how many
    deliveries were stopped.
    """
    now = ctx.clock.now()
    subscription.active = False
    subscription.disabled_at = now
    subscription.disabled_reason = f"disabled automatically: {reason}"
    if subscription.failing_since is None:
        subscription.failing_since = now
    stopped = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status == "pending",
            or_(
                WebhookDelivery.lease_expires_at.is_(None),
                WebhookDelivery.lease_expires_at <= now,
            ),
        )
        .values(
            status="failed",
            completed_at=now,
            lease_owner=None,
            lease_expires_at=None,
            last_error=f"not sent: subscription {subscription.public_id} was disabled",
        )
        .execution_options(synchronize_session=False)
    )
    count = int(getattr(stopped, "rowcount", 0) or 0)
    host = receiver_host(subscription)
    logger.warning(
        "webhook subscription %s to %s disabled, %d pending deliveries stopped: %s",
        subscription.public_id,
        host,
        count,
        reason,
    )
    admins = await users_with(session, role="admin")
    notify_users(
        session,
        users=admins,
        kind="webhook.disabled",
        title=f"Webhook to {host} disabled",
        body=(
            f"Subscription {subscription.public_id} to {host} was disabled: {reason}. "
            f"{count} waiting deliveries were stopped. Fix the receiver, then enable the "
            "subscription again and redeliver what it missed."
        ),
        at=now,
    )
    event_id = emit(
        session,
        type="webhook.disabled",
        at=now,
        data={
            "subscription": subscription.public_id,
            "host": host,
            "reason": reason,
            "failing_since": subscription.failing_since.isoformat(),
            "stopped_deliveries": count,
        },
    )
    await write_notifications(session, ctx, event_id=event_id)
    return count


def enable_subscription(subscription: WebhookSubscription) -> None:
    """Activate the subscription and forget its failing run."""
    subscription.active = True
    subscription.disabled_at = None
    subscription.disabled_reason = None
    subscription.failing_since = None
