"""Admin pages for webhook subscriptions and their delivery log, with redelivery.

Changing an existing subscription and rotating its secret live in `admin_webhook_settings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from opsdesk.console.deps import AdminStaff, Staff
from opsdesk.console.webhook_forms import (
    OPTION_FORM_CHARS,
    parse_conditions_text,
    parse_headers_text,
    service_errors,
    validation_errors,
)
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import Conflict, InvalidInput
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.events.models import OutboxEvent
from opsdesk.tickets.queries import decode_cursor, encode_cursor
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render
from opsdesk.webhooks import service
from opsdesk.webhooks.jobs import REQUEST_BODY_LOG_BYTES, RESPONSE_EXCERPT_BYTES
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from opsdesk.webhooks.redeliver import access_delivery, redeliver
from opsdesk.webhooks.schemas import SubscriptionCreate
from opsdesk.webhooks.service import SubscriptionOptions
from opsdesk.webhooks.signing import mask_secret

router = APIRouter(prefix="/console/admin", include_in_schema=False)

DELIVERIES_PER_PAGE = 25
NO_STORE = {"Cache-Control": "no-store"}


def header_lines(headers: dict[str, Any] | None) -> str:
    """Show headers one ``name: value`` per line, sorted by name, because JSONB reorders keys."""
    return "\n".join(f"{name}: {value}" for name, value in sorted((headers or {}).items()))


@dataclass(frozen=True)
class DeliveryRow:
    delivery: WebhookDelivery
    event_id: str
    event_type: str
    attempts: list[WebhookAttempt]


async def _render_subscriptions(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    *,
    created: WebhookSubscription | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        subscriptions = list(
            (
                await session.execute(select(WebhookSubscription).order_by(WebhookSubscription.id))
            ).scalars()
        )
        counts = dict(
            (
                await session.execute(
                    select(WebhookDelivery.subscription_id, func.count()).group_by(
                        WebhookDelivery.subscription_id
                    )
                )
            ).all()
        )
    return render(
        request,
        "console/admin/webhooks.html",
        {
            "staff": staff,
            "nav": "admin",
            "subscriptions": subscriptions,
            "delivery_counts": counts,
            "event_types": EVENT_TYPES,
            "mask_secret": mask_secret,
            "created": created,
            "errors": errors or {},
            "form": form or {"kind": "webhook", "event_types": []},
            "deleted": request.query_params.get("deleted"),
        },
        status=status,
        # A new subscription's secret is in this page only; no cache may keep it.
        headers=NO_STORE,
    )


@router.get("/webhooks", response_class=HTMLResponse)
async def list_subscriptions(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    return await _render_subscriptions(request, db, ctx, staff)


@router.post("/webhooks", response_class=HTMLResponse)
async def create_subscription(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
    url: Annotated[str, Form(max_length=2000)],
    kind: Annotated[str, Form(max_length=16)] = "webhook",
    event_types: Annotated[list[str] | None, Form()] = None,
    description: Annotated[str, Form(max_length=500)] = "",
    conditions: Annotated[str, Form(max_length=OPTION_FORM_CHARS)] = "",
    headers: Annotated[str, Form(max_length=OPTION_FORM_CHARS)] = "",
    payload_template: Annotated[str, Form(max_length=OPTION_FORM_CHARS)] = "",
) -> Response:
    """Create a subscription and show its signing secret in this response only."""
    form = {
        "url": url,
        "kind": kind,
        "event_types": event_types or [],
        "description": description,
        "conditions": conditions,
        "headers": headers,
        "payload_template": payload_template,
    }
    try:
        body = SubscriptionCreate.model_validate(
            {
                "url": url.strip(),
                "kind": kind,
                "event_types": event_types or [],
                "description": description.strip() or None,
                "conditions": parse_conditions_text(conditions),
                "headers": parse_headers_text(headers),
                "payload_template": payload_template.strip() or None,
            }
        )
    except InvalidInput as exc:
        return await _render_subscriptions(
            request, db, ctx, staff, errors=service_errors(exc), form=form, status=422
        )
    except ValidationError as exc:
        return await _render_subscriptions(
            request, db, ctx, staff, errors=validation_errors(exc), form=form, status=422
        )
    try:
        async with db.transaction() as session:
            created = await service.create_subscription(
                session,
                url=str(body.url),
                event_types=body.event_types,
                kind=body.kind,
                secret=None,
                description=body.description,
                at=ctx.clock.now(),
                options=SubscriptionOptions(
                    conditions=body.conditions,
                    headers=body.headers,
                    payload_template=body.payload_template,
                ),
                ctx=ctx,
            )
    except InvalidInput as exc:
        return await _render_subscriptions(
            request, db, ctx, staff, errors=service_errors(exc), form=form, status=422
        )
    return await _render_subscriptions(request, db, ctx, staff, created=created)


@router.post("/webhooks/{public_id}/delete")
async def delete_subscription(
    request: Request, public_id: str, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    """Delete an API-created subscription with its delivery log."""
    try:
        async with db.transaction() as session:
            subscription = await service.access_subscription(session, public_id)
            await service.delete_subscription(session, subscription)
    except InvalidInput as exc:
        return await _render_subscriptions(
            request, db, ctx, staff, errors={"list": exc.message}, status=exc.status_code
        )
    return RedirectResponse(f"/console/admin/webhooks?deleted={public_id}", status_code=303)


@router.get("/webhooks/{public_id}", response_class=HTMLResponse)
async def delivery_log(
    request: Request,
    public_id: str,
    db: DatabaseDep,
    staff: AdminStaff,
    cursor: str | None = None,
) -> Response:
    """Show the subscription's deliveries, newest first, each with every attempt."""
    return await _render_log(request, db, staff, public_id, cursor=cursor)


async def _render_log(
    request: Request,
    db: Database,
    staff: Staff,
    public_id: str,
    *,
    cursor: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        subscription = await service.access_subscription(session, public_id)
        query = (
            select(WebhookDelivery, OutboxEvent.event_id, OutboxEvent.type)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.subscription_id == subscription.id)
        )
        if cursor:
            query = query.where(WebhookDelivery.id < decode_cursor(cursor))
        rows = list(
            (
                await session.execute(
                    query.order_by(WebhookDelivery.id.desc()).limit(DELIVERIES_PER_PAGE + 1)
                )
            ).all()
        )
        more = len(rows) > DELIVERIES_PER_PAGE
        rows = rows[:DELIVERIES_PER_PAGE]
        attempts: dict[int, list[WebhookAttempt]] = {row[0].id: [] for row in rows}
        if attempts:
            found = await session.execute(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id.in_(list(attempts)))
                .order_by(WebhookAttempt.number.desc(), WebhookAttempt.id.desc())
            )
            for attempt in found.scalars():
                attempts[attempt.delivery_id].append(attempt)
    deliveries = [
        DeliveryRow(
            delivery=delivery,
            event_id=event_id,
            event_type=event_type,
            attempts=attempts[delivery.id],
        )
        for delivery, event_id, event_type in rows
    ]
    return render(
        request,
        "console/admin/deliveries.html",
        {
            "staff": staff,
            "nav": "admin",
            "subscription": subscription,
            "deliveries": deliveries,
            "next_cursor": encode_cursor(rows[-1][0].id) if more else None,
            "first_page": not cursor,
            "error": error,
            "queued": request.query_params.get("queued"),
            "header_lines": header_lines,
            "request_body_log_bytes": REQUEST_BODY_LOG_BYTES,
            "response_excerpt_bytes": RESPONSE_EXCERPT_BYTES,
        },
        status=status,
        headers=NO_STORE,
    )


@router.post("/webhooks/deliveries/{delivery_id}/redeliver")
async def redeliver_delivery(
    request: Request, delivery_id: str, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    """Queue the delivery again now; the worker sends it with the same webhook-id."""
    async with db.read() as session:
        delivery = await access_delivery(session, delivery_id)
        subscription = await session.get(WebhookSubscription, delivery.subscription_id)
        assert subscription is not None
        public_id = subscription.public_id
    try:
        async with db.transaction() as session:
            delivery = await access_delivery(session, delivery_id, lock=True)
            await redeliver(
                session,
                delivery,
                requested_by=f"user {staff.user.id}",
                at=ctx.clock.now(),
            )
    except Conflict as exc:
        return await _render_log(
            request, db, staff, public_id, error=exc.message, status=exc.status_code
        )
    return RedirectResponse(
        f"/console/admin/webhooks/{public_id}?queued={delivery_id}#{delivery_id}",
        status_code=303,
    )
