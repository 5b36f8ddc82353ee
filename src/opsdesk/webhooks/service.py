"""Subscription management: API-created ones and those declared in the workspace file."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.db import new_public_id
from opsdesk.errors import InvalidInput, NotFound
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.webhooks.conditions import check_condition_values, dump_conditions, parse_conditions
from opsdesk.webhooks.disable import enable_subscription, is_auto_disabled
from opsdesk.webhooks.guard import OutboundBlocked, guard_for
from opsdesk.webhooks.headers import check_headers
from opsdesk.webhooks.models import WebhookSubscription
from opsdesk.webhooks.signing import check_secret, new_secret
from opsdesk.webhooks.templates import TemplateFault, check_template
from opsdesk.workspace import Workspace

logger = logging.getLogger(__name__)

_UNSET: Any = object()


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


def check_url(ctx: Context, url: str) -> str:
    """Reject a URL the outbound guard would refuse, naming the field."""
    try:
        guard_for(ctx.settings).check_url(url)
    except OutboundBlocked as exc:
        raise InvalidInput(
            f"invalid url: {exc}", details=[{"field": "url", "message": str(exc)}]
        ) from None
    return url


def check_conditions(raw: dict[str, Any] | None, workspace: Workspace | None) -> Any:
    """Return the conditions as stored (None for none), or raise InvalidInput."""
    if raw is None:
        return None
    condition = parse_conditions(raw)
    if workspace is not None:
        check_condition_values(condition, workspace)
    return dump_conditions(condition)


def check_payload_template(source: str | None, event_types: list[str]) -> str | None:
    if source is None or not source.strip():
        return None
    try:
        check_template(source, event_types)
    except TemplateFault as exc:
        raise InvalidInput(
            f"invalid payload_template: {exc}",
            details=[{"field": "payload_template", "message": str(exc)}],
        ) from None
    return source


@dataclass(frozen=True)
class SubscriptionOptions:
    """What a subscription may add to the event-type filter; every part is optional."""

    conditions: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    payload_template: str | None = None


async def create_subscription(
    session: AsyncSession,
    *,
    url: str,
    event_types: list[str],
    kind: str,
    secret: str | None,
    description: str | None,
    at: datetime,
    options: SubscriptionOptions | None = None,
    ctx: Context | None = None,
) -> WebhookSubscription:
    """Store a new subscription after checking every part of it.

    With `ctx`, the URL is also checked against the outbound guard and condition values
    against the workspace. The API and the console always pass it.
    """
    options = options or SubscriptionOptions()
    event_types = check_event_types(event_types)
    if kind == "slack" and secret is not None:
        raise InvalidInput(
            "slack subscriptions are not signed; leave out the secret",
            details=[{"field": "secret", "message": "not allowed for kind slack"}],
        )
    if secret is not None:
        check_secret(secret)
    if ctx is not None:
        check_url(ctx, url)
    conditions = check_conditions(options.conditions, ctx.workspace if ctx else None)
    headers = check_headers(options.headers) if options.headers else None
    template = check_payload_template(options.payload_template, event_types)
    subscription = WebhookSubscription(
        public_id=new_public_id("sub"),
        kind=kind,
        url=url,
        secret=(secret or new_secret()) if kind == "webhook" else None,
        event_types=event_types,
        description=description,
        active=True,
        created_at=at,
        conditions=conditions,
        headers=headers,
        payload_template=template,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def update_subscription(
    session: AsyncSession,
    ctx: Context,
    subscription: WebhookSubscription,
    changes: dict[str, Any],
) -> list[str]:
    """Apply the given fields (absent ones stay) and return the names that changed.

    `active: true` enables a subscription and clears its failing run; `active: false`
    pauses it, and its pending deliveries wait. A subscription declared in the workspace
    file takes only `active` here, because the file sets the rest at every start.
    """
    if subscription.workspace_key is not None:
        others = sorted(set(changes) - {"active"})
        if others:
            raise InvalidInput(
                f"subscription {subscription.public_id} is declared in the workspace file as "
                f"{subscription.workspace_key!r}; change {', '.join(others)} there",
                details=[
                    {"field": name, "message": "set in the workspace file"} for name in others
                ],
            )
    changed: list[str] = []
    event_types = subscription.event_types
    if "event_types" in changes:
        if not changes["event_types"]:
            raise InvalidInput(
                "event_types must list at least one event type, or * for all",
                details=[{"field": "event_types", "message": "at least one event type"}],
            )
        event_types = check_event_types(changes["event_types"])
    if "url" in changes:
        subscription.url = check_url(ctx, changes["url"])
        changed.append("url")
    if "event_types" in changes:
        subscription.event_types = event_types
        changed.append("event_types")
    if "description" in changes:
        subscription.description = changes["description"]
        changed.append("description")
    if "conditions" in changes:
        subscription.conditions = check_conditions(changes["conditions"], ctx.workspace)
        changed.append("conditions")
    if "headers" in changes:
        subscription.headers = check_headers(changes["headers"]) if changes["headers"] else None
        changed.append("headers")
    template = changes.get("payload_template", _UNSET)
    if template is _UNSET and "event_types" in changes:
        # New event types may reach fields the template lacks, so it is checked again.
        template = subscription.payload_template
    if template is not _UNSET:
        subscription.payload_template = check_payload_template(template, event_types)
        if "payload_template" in changes:
            changed.append("payload_template")
    if "active" in changes:
        _set_active(subscription, bool(changes["active"]), at=ctx.clock.now())
        changed.append("active")
    await session.flush()
    if changed:
        logger.info(
            "webhook subscription %s updated: %s", subscription.public_id, ", ".join(changed)
        )
    return changed


def _set_active(subscription: WebhookSubscription, active: bool, *, at: datetime) -> None:
    if active:
        if subscription.workspace_key is not None and not subscription.url:
            raise InvalidInput(
                f"subscription {subscription.public_id} has no URL in the workspace file; "
                "set its URL there to activate it",
                details=[{"field": "active", "message": "the subscription has no URL"}],
            )
        enable_subscription(subscription)
        return
    if subscription.active:
        subscription.active = False
        subscription.disabled_at = at
        subscription.disabled_reason = "paused by an admin"
        # A paused subscription is not failing; a run is counted afresh after it resumes.
        subscription.failing_since = None


async def access_subscription(
    session: AsyncSession, public_id: str, *, lock: bool = False
) -> WebhookSubscription:
    query = select(WebhookSubscription).where(WebhookSubscription.public_id == public_id)
    if lock:
        query = query.with_for_update()
    subscription = (await session.execute(query)).scalar_one_or_none()
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
    One removed from the file is deactivated, so its delivery log stays readable. One that
    was disabled automatically stays disabled until an admin enables it, unless its URL
    changed in the file.
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
        url_changed = row.url != (url or "")
        keep_disabled = is_auto_disabled(row) and not url_changed
        row.kind = spec.kind
        row.url = url or ""
        # The loader requires a secret for an active webhook; an inactive one without a
        # secret gets a generated one so the row stays valid.
        row.secret = (spec.secret or row.secret or new_secret()) if spec.kind == "webhook" else None
        row.event_types = sorted(set(spec.events))
        row.description = spec.description
        if keep_disabled:
            logger.info("subscription %s stays disabled: %s", spec.key, row.disabled_reason)
            continue
        row.active = url is not None
        row.disabled_reason = None
        if url_changed or url is None:
            # A failing run belongs to the receiver it was measured on.
            row.failing_since = None
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
            row.failing_since = None
    await session.flush()
