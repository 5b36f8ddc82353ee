"""Send a webhook delivery again on an admin's request.

The delivery goes back to pending with its next attempt due now, so the worker sends
it with the same event id (the ``webhook-id`` header receivers deduplicate on) and
records the attempt with the next number. Its earlier attempts stay in the log.

NOTE: the retry window still counts from the delivery's first attempt. A redelivery
that fails after that window has passed is marked failed at once, without retries.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.errors import Conflict, NotFound
from opsdesk.wakeups import request_wakeup
from opsdesk.webhooks.models import WebhookDelivery, WebhookSubscription

logger = logging.getLogger(__name__)


async def access_delivery(
    session: AsyncSession, public_id: str, *, lock: bool = False
) -> WebhookDelivery:
    query = select(WebhookDelivery).where(WebhookDelivery.public_id == public_id)
    if lock:
        query = query.with_for_update()
    delivery = (await session.execute(query)).scalar_one_or_none()
    if delivery is None:
        raise NotFound(f"webhook delivery {public_id} not found")
    return delivery


async def redeliver(
    session: AsyncSession, delivery: WebhookDelivery, *, requested_by: str, at: datetime
) -> None:
    """Queue the delivery for another attempt now; `requested_by` names the admin in the log.

    Raise Conflict while a worker has the delivery leased for an attempt, or when its
    subscription is inactive (the worker sends nothing for inactive subscriptions).
    """
    subscription = await session.get(WebhookSubscription, delivery.subscription_id)
    if subscription is None:
        raise NotFound(f"webhook delivery {delivery.public_id} has no subscription any more")
    if not subscription.active:
        reason = f" ({subscription.disabled_reason})" if subscription.disabled_reason else ""
        raise Conflict(
            f"subscription {subscription.public_id} is inactive{reason}, so nothing would be "
            "sent; activate it before redelivering"
        )
    if (
        delivery.status == "pending"
        and delivery.lease_expires_at is not None
        and delivery.lease_expires_at > at
    ):
        raise Conflict(
            f"webhook delivery {delivery.public_id} is being sent right now; "
            "wait for the attempt to finish and try again"
        )
    previous = delivery.status
    delivery.status = "pending"
    delivery.next_attempt_at = at
    delivery.completed_at = None
    delivery.lease_owner = None
    delivery.lease_expires_at = None
    request_wakeup(session, "deliveries")
    logger.info(
        "webhook delivery %s (%s after %d attempt(s)) queued again by %s",
        delivery.public_id,
        previous,
        delivery.attempt_count,
        requested_by,
    )
