"""HTTP routes to manage webhook subscriptions and read their delivery log (admins only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.errors import NotFound
from opsdesk.events.models import OutboxEvent
from opsdesk.tickets.queries import decode_cursor, encode_cursor
from opsdesk.web.deps import Admin, ContextDep, DatabaseDep
from opsdesk.webhooks import service
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from opsdesk.webhooks.schemas import (
    AttemptView,
    DeliveryPage,
    DeliveryView,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionView,
)
from opsdesk.webhooks.signing import mask_secret

router = APIRouter(prefix="/api/v1", tags=["webhooks"])


def _view(subscription: WebhookSubscription) -> dict[str, object]:
    return {
        "id": subscription.public_id,
        "kind": subscription.kind,
        "url": subscription.url,
        "event_types": subscription.event_types,
        "description": subscription.description,
        "active": subscription.active,
        "source": "workspace" if subscription.workspace_key else "api",
        "created_at": subscription.created_at,
        "disabled_reason": subscription.disabled_reason,
        "secret_hint": mask_secret(subscription.secret),
    }


@router.post("/webhook-subscriptions", status_code=201, response_model=SubscriptionCreated)
async def create_subscription(
    body: SubscriptionCreate, db: DatabaseDep, ctx: ContextDep, _user: Admin
) -> SubscriptionCreated:
    """Subscribe a URL to events. The response is the only place the signing secret is shown."""
    async with db.transaction() as session:
        subscription = await service.create_subscription(
            session,
            url=str(body.url),
            event_types=body.event_types,
            kind=body.kind,
            secret=body.secret,
            description=body.description,
            at=ctx.clock.now(),
        )
        return SubscriptionCreated.model_validate(
            _view(subscription) | {"secret": subscription.secret}
        )


@router.get("/webhook-subscriptions", response_model=list[SubscriptionView])
async def list_subscriptions(db: DatabaseDep, _user: Admin) -> list[SubscriptionView]:
    async with db.read() as session:
        rows = (
            await session.execute(select(WebhookSubscription).order_by(WebhookSubscription.id))
        ).scalars()
        return [SubscriptionView.model_validate(_view(row)) for row in rows]


@router.get("/webhook-subscriptions/{subscription_id}", response_model=SubscriptionView)
async def get_subscription(subscription_id: str, db: DatabaseDep, _user: Admin) -> SubscriptionView:
    async with db.read() as session:
        return SubscriptionView.model_validate(
            _view(await service.access_subscription(session, subscription_id))
        )


@router.delete("/webhook-subscriptions/{subscription_id}", status_code=204)
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
                    response_body=attempt.response_body,
                    request_headers=attempt.request_headers,
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


@router.get("/webhook-subscriptions/{subscription_id}/deliveries", response_model=DeliveryPage)
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


@router.get("/webhook-deliveries/{delivery_id}", response_model=DeliveryView)
async def get_delivery(delivery_id: str, db: DatabaseDep, _user: Admin) -> DeliveryView:
    async with db.read() as session:
        row = (
            await session.execute(_delivery_query().where(WebhookDelivery.public_id == delivery_id))
        ).first()
        if row is None:
            raise NotFound(f"webhook delivery {delivery_id} not found")
        return (await _delivery_views(session, [row]))[0]
