"""Signing-secret rotation with an overlap window.

After a rotation every delivery is signed with the new secret and, until the window ends,
with the previous one too: ``webhook-signature`` then contains two space-separated
signatures, and a receiver that still has the old secret keeps verifying while it is
updated. Standard Webhooks receivers accept a request when any one signature matches.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from opsdesk.errors import InvalidInput
from opsdesk.webhooks.models import WebhookSubscription
from opsdesk.webhooks.signing import check_secret, new_secret

logger = logging.getLogger(__name__)


def signing_secrets(subscription: WebhookSubscription, *, at: datetime) -> list[str]:
    """Return the secrets a delivery sent at `at` is signed with, the current one first."""
    if subscription.secret is None:
        return []
    secrets = [subscription.secret]
    expires_at = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires_at is not None and at < expires_at:
        secrets.append(subscription.previous_secret)
    return secrets


def previous_secret_expiry(subscription: WebhookSubscription, *, at: datetime) -> datetime | None:
    """Return until when the secret before the last rotation still signs, or None if it does not."""
    expires_at = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires_at is not None and at < expires_at:
        return expires_at
    return None


def rotate_secret(
    subscription: WebhookSubscription,
    *,
    at: datetime,
    overlap: timedelta,
    secret: str | None = None,
) -> str:
    """Give the subscription a new secret and return it; the old one signs until at + overlap.

    A rotation during the window of an earlier one drops the oldest secret, so at most
    two secrets sign at any time.
    """
    if subscription.workspace_key is not None:
        raise InvalidInput(
            f"subscription {subscription.public_id} is declared in the workspace file as "
            f"{subscription.workspace_key!r}; change its secret there"
        )
    if subscription.kind != "webhook":
        raise InvalidInput(
            f"subscription {subscription.public_id} is a {subscription.kind} subscription, "
            "which is not signed, so it has no secret to rotate"
        )
    fresh = check_secret(secret) if secret is not None else new_secret()
    if fresh == subscription.secret:
        raise InvalidInput(
            "the new secret equals the current one; send another or leave it out",
            details=[{"field": "secret", "message": "equals the current secret"}],
        )
    if overlap > timedelta(0):
        subscription.previous_secret = subscription.secret
        subscription.previous_secret_expires_at = at + overlap
    else:
        subscription.previous_secret = None
        subscription.previous_secret_expires_at = None
    subscription.secret = fresh
    logger.info(
        "webhook subscription %s secret rotated; the previous secret signs until %s",
        subscription.public_id,
        subscription.previous_secret_expires_at.isoformat()
        if subscription.previous_secret_expires_at
        else "now",
    )
    return fresh
