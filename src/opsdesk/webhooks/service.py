"""Subscription management: API-created ones and those declared in the workspace file."""

from __future__ import annotations

import logging
import re
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.db import new_public_id
from opsdesk.errors import InvalidInput, NotFound
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.webhooks.models import WebhookSubscription
from opsdesk.webhooks.signing import new_secret
from opsdesk.workspace import Workspace

logger = logging.getLogger(__name__)

_SECRET_PATTERN = re.compile(r"^whsec_[A-Za-z0-9+/]{24,}={0,2}$")


def check_event_types(event_types: list[str]) -> list[str]:
    unknown = [name for name in event_types if name != "*" and name not in EVENT_TYPES]
    if unknown:
        raise InvalidInput(
            f"unknown event type(s) {', '.join(map(repr, unknown))}; expected * or one of "
            + ", ".join(EVENT_TYPES),
            details=[
                {"field": "event_types", "message": f"unknown event type {name!r}"}
                for name in unknown
            ],
        )
    return sorted(set(event_types))


def matches(subscription: WebhookSubscription, event_type: str) -> bool:
    return "*" in subscription.event_types or event_type in subscription.event_types


async def create_subscription(
    session: AsyncSession,
    *,
    url: str,
    event_types: list[str],
    kind: str,
    secret: str | None,
    description: str | None,
    at: datetime,
) -> WebhookSubscription:
    event_types = check_event_types(event_types)
    if kind == "slack" and secret is not None:
        raise InvalidInput(
            "slack subscriptions are not signed; leave out the secret",
            details=[{"field": "secret", "message": "not allowed for kind slack"}],
        )
    if secret is not None and not _SECRET_PATTERN.match(secret):
        raise InvalidInput(
            "invalid secret: expected whsec_ followed by at least 24 base64 characters",
            details=[{"field": "secret", "message": "expected whsec_ and base64"}],
        )
    subscription = WebhookSubscription(
        public_id=new_public_id("sub"),
        kind=kind,
        url=url,
        secret=(secret or new_secret()) if kind == "webhook" else None,
        event_types=event_types,
        description=description,
        active=True,
        created_at=at,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def access_subscription(session: AsyncSession, public_id: str) -> WebhookSubscription:
    subscription = (
        await session.execute(
            select(WebhookSubscription).where(WebhookSubscription.public_id == public_id)
        )
    ).scalar_one_or_none()
    if subscription is None:
        raise NotFound(f"webhook subscription {public_id} not found")
    return subscription


async def delete_subscription(session: AsyncSession, subscription: WebhookSubscription) -> None:
    if subscription.workspace_key is not None:
        raise InvalidInput(
            f"subscription {subscription.public_id} is declared in the workspace file as "
            f"{subscription.workspace_key!r}; remove it there instead"
        )
    await session.execute(
        delete(WebhookSubscription).where(WebhookSubscription.id == subscription.id)
    )


async def sync_workspace_subscriptions(
    session: AsyncSession, workspace: Workspace, *, at: datetime
) -> None:
    """Make the database match the subscriptions declared in the workspace file.

    A declared subscription without a URL (an unset environment variable) is kept inactive.
    One removed from the file is deactivated, so its delivery log stays readable.
    """
    existing = {
        row.workspace_key: row
        for row in (
            await session.execute(
                select(WebhookSubscription).where(WebhookSubscription.workspace_key.is_not(None))
            )
        ).scalars()
    }
    declared = set()
    for index, spec in enumerate(workspace.spec.subscriptions):
        declared.add(spec.key)
        url = str(spec.url) if spec.url is not None else None
        row = existing.get(spec.key)
        if row is None:
            row = WebhookSubscription(
                public_id=new_public_id("sub"),
                workspace_key=spec.key,
                created_at=at,
                kind=spec.kind,
                url="",
                event_types=[],
            )
            session.add(row)
        row.kind = spec.kind
        row.url = url or ""
        # The loader requires a secret for an active webhook; an inactive one without a
        # secret gets a generated one so the row stays valid.
        row.secret = (spec.secret or row.secret or new_secret()) if spec.kind == "webhook" else None
        row.event_types = sorted(set(spec.events))
        row.description = spec.description
        row.active = url is not None
        row.disabled_reason = None
        if url is None:
            variable = workspace.defaulted_variables.get(f"subscriptions[{index}].url")
            row.disabled_reason = (
                f"environment variable {variable} is not set, so the URL is empty"
                if variable
                else "no URL in the workspace file"
            )
            logger.info("subscription %s is inactive: %s", spec.key, row.disabled_reason)
    for key, row in existing.items():
        if key not in declared and row.active:
            row.active = False
            row.disabled_at = at
            row.disabled_reason = "removed from the workspace file"
    await session.flush()
