"""HTTP routes to manage webhook subscriptions and their delivery log (admins only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.errors import InvalidInput, NotFound
from opsdesk.events.models import OutboxEvent
from opsdesk.tickets.queries import decode_cursor, encode_cursor
from opsdesk.web.deps import Admin, ContextDep, DatabaseDep
from opsdesk.web.responses import JSON_BODY_ERRORS, STAFF_ERRORS, WRITE_ERRORS, error_responses
from opsdesk.webhooks import service
from opsdesk.webhooks.headers import mask_headers
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from opsdesk.webhooks.redeliver import access_delivery, redeliver
from opsdesk.webhooks.rotation import rotate_secret
from opsdesk.webhooks.schemas import (
    AttemptView,
    DeliveryPage,
    DeliveryView,
    SecretRotated,
    SecretRotation,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionUpdate,
    SubscriptionView,
)
from opsdesk.webhooks.service import SubscriptionOptions
from opsdesk.webhooks.signing import mask_secret

router = APIRouter(prefix="/api/v1", tags=["webhooks"], responses=error_responses(*STAFF_ERRORS))


def _previous_secret_expiry(subscription: WebhookSubscription, now: datetime) -> datetime | None:
    expires_at = subscription.previous_secret_expires_at
    if subscription.previous_secret and expires_at is not None and expires_at > now:
        return expires_at
    return None


def _view(subscription: WebhookSubscription, *, now: datetime) -> dict[str, object]:
    return {
        "id": subscription.public_id,
        "kind": subscription.kind,
        "url": subscription.url,
        "event_types": subscription.event_types,
        "description": subscription.description,
        "active": subscription.active,
        "source": "workspace" if subscription.workspace_key else "api",
        "created_at": subscription.created_at,
        "disabled_at": subscription.disabled_at if not subscription.active else None,
        "disabled_reason": subscription.disabled_reason,
        "failing_since": subscription.failing_since,
        "secret_hint": mask_secret(subscription.secret),
        "previous_secret_expires_at": _previous_secret_expiry(subscription, now),
        "conditions": subscription.conditions,
        "headers": mask_headers(subscription.headers) if subscription.headers else None,
        "payload_template": subscription.payload_template,
    }


@router.post(
    "/webhook-subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    responses=error_responses(*JSON_BODY_ERRORS),
)
async def create_subscription(
    body: SubscriptionCreate, db: DatabaseDep, ctx: ContextDep, _user: Admin
) -> SubscriptionCreated:
    """Subscribe a URL to events. The response is the only place the signing secret is shown."""
    now = ctx.clock.now()
    async with db.transaction() as session:
        subscription = await service.create_subscription(
            session,
            url=str(body.url),
            event_types=body.event_types,
            kind=body.kind,
            secret=body.secret,
            description=body.description,
            at=now,
            options=SubscriptionOptions(
                conditions=body.conditions,
                headers=body.headers,
                payload_template=body.payload_template,
            ),
            ctx=ctx,
        )
        return SubscriptionCreated.model_validate(
            _view(subscription, now=now) | {"secret": subscription.secret}
        )


@router.get("/webhook-subscriptions", response_model=list[SubscriptionView])
async def list_subscriptions(
    db: DatabaseDep, ctx: ContextDep, _user: Admin
) -> list[SubscriptionView]:
    now = ctx.clock.now()
    async with db.read() as session:
        rows = (
            await session.execute(select(WebhookSubscription).order_by(WebhookSubscription.id))
        ).scalars()
        return [SubscriptionView.model_validate(_view(row, now=now)) for row in rows]


@router.get(
    "/webhook-subscriptions/{subscription_id}",
    response_model=SubscriptionView,
    responses=error_responses(404),
)
async def get_subscription(
    subscription_id: str, db: DatabaseDep, ctx: ContextDep, _user: Admin
) -> SubscriptionView:
    async with db.read() as session:
        return SubscriptionView.model_validate(
            _view(await service.access_subscription(session, subscription_id), now=ctx.clock.now())
        )


@router.patch(
    "/webhook-subscriptions/{subscription_id}",
    response_model=SubscriptionView,
    responses=error_responses(*JSON_BODY_ERRORS, 404),
)
async def update_subscription(
    subscription_id: str,
    body: SubscriptionUpdate,
    db: DatabaseDep,
    ctx: ContextDep,
    _user: Admin,
) -> SubscriptionView:
    """Change the given fields; `"active": true` enables a disabled subscription again."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    for name in ("url", "event_types", "active"):
        if name in changes and changes[name] is None:
            raise InvalidInput(
                f"{name} cannot be null; leave it out to keep its value",
                details=[{"field": name, "message": "cannot be null"}],
            )
    if changes.get("url") is not None:
        changes["url"] = str(changes["url"])
    async with db.transaction() as session:
        subscription = await service.access_subscription(session, subscription_id, lock=True)
        await service.update_subscription(session, ctx, subscription, changes)
        return SubscriptionView.model_validate(_view(subscription, now=ctx.clock.now()))


@router.post(
    "/webhook-subscriptions/{subscription_id}/rotate-secret",
    response_model=SecretRotated,
    responses=error_responses(*JSON_BODY_ERRORS, 404),
)
async def rotate_subscription_secret(
    subscription_id: str,
    db: DatabaseDep,
    ctx: ContextDep,
    _user: Admin,
    body: SecretRotation | None = None,
) -> SecretRotated:
    """Replace the signing secret; the old one keeps signing for the overlap window.

    The response is the only place the new secret is shown.
    """
    now = ctx.clock.now()
    overlap = timedelta(seconds=ctx.settings.webhook_secret_overlap_seconds)
    async with db.transaction() as session:
        subscription = await service.access_subscription(session, subscription_id, lock=True)
        secret = rotate_secret(
            subscription, at=now, overlap=overlap, secret=body.secret if body else None
        )
        return SecretRotated(
            id=subscription.public_id,
            secret=secret,
            secret_hint=mask_secret(secret) or "",
            previous_secret_expires_at=_previous_secret_expiry(subscription, now),
        )


@router.delete(
    "/webhook-subscriptions/{subscription_id}",
    status_code=204,
    responses=error_responses(404),
)
async def delete_subscription(subscription_id: str, db: DatabaseDep, _user: Admin) -> Response:
    """Delete an API-created subscription together with its delivery log."""
    async with db.transaction() as session:
        await service.delete_subscription(
            session, await service.access_subscription(session, subscription_id)
        )
    return Response(status_code=204)


async def _delivery_views(
    session: AsyncSession, deliveries: Sequence[tuple[WebhookDelivery, str, str, str]]
) -> list[DeliveryView]:
    ids = [delivery.id for delivery, *_ in deliveries]
    attempts: dict[int, list[AttemptView]] = {delivery_id: [] for delivery_id in ids}
    if ids:
        rows = await session.execute(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(ids))
            .order_by(WebhookAttempt.number)
        )
        for attempt in rows.scalars():
            attempts[attempt.delivery_id].append(
                AttemptView(
                    number=attempt.number,
                    started_at=attempt.started_at,
                    duration_ms=attempt.duration_ms,
                    status_code=attempt.status_code,
                    outcome=attempt.outcome,
                    error=attempt.error,
                    request_headers=attempt.request_headers,
                    request_body=attempt.request_body,
                    request_body_bytes=attempt.request_body_bytes,
                    response_headers=attempt.response_headers,
                    response_body=attempt.response_body,
                )
            )
    return [
        DeliveryView(
            id=delivery.public_id,
            event_id=event_id,
            event_type=event_type,
            subscription_id=subscription_id,
            status=delivery.status,
            attempt_count=delivery.attempt_count,
            next_attempt_at=delivery.next_attempt_at if delivery.status == "pending" else None,
            created_at=delivery.created_at,
            completed_at=delivery.completed_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            attempts=attempts[delivery.id],
        )
        for delivery, event_id, event_type, subscription_id in deliveries
    ]


def _delivery_query() -> Select[WebhookDelivery, str, str, str]:
    return (
        select(
            WebhookDelivery, OutboxEvent.event_id, OutboxEvent.type, WebhookSubscription.public_id
        )
        .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
        .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
    )


@router.get(
    "/webhook-subscriptions/{subscription_id}/deliveries",
    response_model=DeliveryPage,
    responses=error_responses(404),
)
async def list_deliveries(
    subscription_id: str,
    db: DatabaseDep,
    _user: Admin,
    status: Literal["pending", "succeeded", "failed"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
) -> DeliveryPage:
    """Newest deliveries first, each with every attempt; follow next_cursor for older ones."""
    async with db.read() as session:
        subscription = await service.access_subscription(session, subscription_id)
        query = _delivery_query().where(WebhookDelivery.subscription_id == subscription.id)
        if status:
            query = query.where(WebhookDelivery.status == status)
        if cursor:
            query = query.where(WebhookDelivery.id < decode_cursor(cursor))
        rows = list(
            (
                await session.execute(query.order_by(WebhookDelivery.id.desc()).limit(limit + 1))
            ).all()
        )
        more = len(rows) > limit
        rows = rows[:limit]
        return DeliveryPage(
            items=await _delivery_views(session, rows),
            next_cursor=encode_cursor(rows[-1][0].id) if more else None,
        )


async def _delivery_view(session: AsyncSession, delivery_id: str) -> DeliveryView:
    row = (
        await session.execute(_delivery_query().where(WebhookDelivery.public_id == delivery_id))
    ).first()
    if row is None:
        raise NotFound(f"webhook delivery {delivery_id} not found")
    return (await _delivery_views(session, [row]))[0]


@router.get(
    "/webhook-deliveries/{delivery_id}",
    response_model=DeliveryView,
    responses=error_responses(404),
)
async def get_delivery(delivery_id: str, db: DatabaseDep, _user: Admin) -> DeliveryView:
    async with db.read() as session:
        return await _delivery_view(session, delivery_id)


@router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryView,
    responses=error_responses(*WRITE_ERRORS, 404, 409),
)
async def redeliver_delivery(
    delivery_id: str, db: DatabaseDep, ctx: ContextDep, user: Admin
) -> DeliveryView:
    """Queue the delivery for another attempt now, with the same webhook-id.

    The worker sends it and records the attempt with the next number; `409` while an
    attempt is in flight or the subscription is inactive.
    """
    async with db.transaction() as session:
        delivery = await access_delivery(session, delivery_id, lock=True)
        await redeliver(session, delivery, requested_by=user.email, at=ctx.clock.now())
        await session.flush()
        return await _delivery_view(session, delivery_id)
