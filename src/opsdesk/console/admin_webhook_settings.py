"""Admin page of one webhook subscription: change it, pause or enable it, rotate its secret.

Every change goes through the service functions the API uses, so both check the same way.
A subscription declared in the workspace file is shown read-only here, except that it can
be paused and enabled.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from opsdesk.console.deps import AdminStaff, Staff
from opsdesk.console.webhook_forms import (
    OPTION_FORM_CHARS,
    conditions_text,
    headers_text,
    keep_masked_headers,
    parse_conditions_text,
    parse_headers_text,
    service_errors,
    validation_errors,
)
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import InvalidInput
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render
from opsdesk.webhooks import service
from opsdesk.webhooks.models import WebhookSubscription
from opsdesk.webhooks.rotation import previous_secret_expiry, rotate_secret
from opsdesk.webhooks.schemas import SubscriptionUpdate
from opsdesk.webhooks.signing import mask_secret

router = APIRouter(prefix="/console/admin/webhooks", include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
SAVED_NOTICES = {
    "settings": "Subscription saved.",
    "enabled": "Subscription enabled; its pending deliveries are sent again.",
    "paused": "Subscription paused; its deliveries wait until it is enabled.",
}


@dataclass(frozen=True)
class Rotation:
    """A rotation just done: the new secret, shown in this one response."""

    secret: str
    previous_valid_until: datetime | None


def _stored_form(subscription: WebhookSubscription) -> dict[str, Any]:
    return {
        "url": subscription.url,
        "event_types": subscription.event_types,
        "description": subscription.description or "",
        "conditions": conditions_text(subscription.conditions),
        "headers": headers_text(subscription.headers),
        "payload_template": subscription.payload_template or "",
    }


async def _render_settings(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    public_id: str,
    *,
    form: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    rotation: Rotation | None = None,
    status: int = 200,
) -> Response:
    now = ctx.clock.now()
    async with db.read() as session:
        subscription = await service.access_subscription(session, public_id)
    return render(
        request,
        "console/admin/webhook_settings.html",
        {
            "staff": staff,
            "nav": "admin",
            "subscription": subscription,
            "form": form or _stored_form(subscription),
            "errors": errors or {},
            "event_types": EVENT_TYPES,
            "secret_hint": mask_secret(subscription.secret),
            "previous_valid_until": previous_secret_expiry(subscription, at=now),
            "overlap_seconds": ctx.settings.webhook_secret_overlap_seconds,
            "rotation": rotation,
            "saved": SAVED_NOTICES.get(request.query_params.get("saved", "")),
        },
        status=status,
        # A rotated secret is in this page only; no cache may keep it.
        headers=NO_STORE,
    )


@router.get("/{public_id}/settings", response_class=HTMLResponse)
async def subscription_settings(
    request: Request, public_id: str, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    return await _render_settings(request, db, ctx, staff, public_id)


@router.post("/{public_id}/settings", response_class=HTMLResponse)
async def update_subscription(
    request: Request,
    public_id: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
    url: Annotated[str, Form(max_length=2000)],
    event_types: Annotated[list[str] | None, Form()] = None,
    description: Annotated[str, Form(max_length=500)] = "",
    conditions: Annotated[str, Form(max_length=OPTION_FORM_CHARS)] = "",
    headers: Annotated[str, Form(max_length=OPTION_FORM_CHARS)] = "",
    payload_template: Annotated[str, Form(max_length=OPTION_FORM_CHARS)] = "",
) -> Response:
    """Save every field of the form; header values left masked keep their stored value."""
    form = {
        "url": url,
        "event_types": event_types or [],
        "description": description,
        "conditions": conditions,
        "headers": headers,
        "payload_template": payload_template,
    }
    try:
        body = SubscriptionUpdate.model_validate(
            {
                "url": url.strip(),
                "event_types": event_types or [],
                "description": description.strip() or None,
                "conditions": parse_conditions_text(conditions),
                "headers": parse_headers_text(headers),
                "payload_template": payload_template.strip() or None,
            }
        )
    except InvalidInput as exc:
        errors = service_errors(exc)
    except ValidationError as exc:
        errors = validation_errors(exc)
    else:
        errors = await _save(db, ctx, public_id, body)
    if errors:
        return await _render_settings(
            request, db, ctx, staff, public_id, form=form, errors=errors, status=422
        )
    return RedirectResponse(
        f"/console/admin/webhooks/{public_id}/settings?saved=settings", status_code=303
    )


async def _save(
    db: Database, ctx: Context, public_id: str, body: SubscriptionUpdate
) -> dict[str, str]:
    """Apply the form and return the errors by field; empty when it was saved."""
    changes: dict[str, Any] = {name: getattr(body, name) for name in body.model_fields_set}
    changes["url"] = str(body.url)
    try:
        async with db.transaction() as session:
            subscription = await service.access_subscription(session, public_id, lock=True)
            changes["headers"] = keep_masked_headers(body.headers, subscription.headers)
            await service.update_subscription(session, ctx, subscription, changes)
    except InvalidInput as exc:
        return service_errors(exc)
    return {}


@router.post("/{public_id}/active")
async def set_active(
    request: Request,
    public_id: str,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
    active: Annotated[bool, Form()],
) -> Response:
    """Enable a subscription, which also clears its failing run, or pause it."""
    try:
        async with db.transaction() as session:
            subscription = await service.access_subscription(session, public_id, lock=True)
            await service.update_subscription(session, ctx, subscription, {"active": active})
    except InvalidInput as exc:
        return await _render_settings(
            request,
            db,
            ctx,
            staff,
            public_id,
            errors={"active": exc.message},
            status=exc.status_code,
        )
    notice = "enabled" if active else "paused"
    return RedirectResponse(
        f"/console/admin/webhooks/{public_id}/settings?saved={notice}", status_code=303
    )


@router.post("/{public_id}/rotate-secret", response_class=HTMLResponse)
async def rotate_subscription_secret(
    request: Request, public_id: str, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    """Give the subscription a new secret and show it in this response only.

    The previous secret keeps signing for OPSDESK_WEBHOOK_SECRET_OVERLAP_SECONDS.
    """
    now = ctx.clock.now()
    overlap = timedelta(seconds=ctx.settings.webhook_secret_overlap_seconds)
    try:
        async with db.transaction() as session:
            subscription = await service.access_subscription(session, public_id, lock=True)
            secret = rotate_secret(subscription, at=now, overlap=overlap)
            rotation = Rotation(
                secret=secret, previous_valid_until=previous_secret_expiry(subscription, at=now)
            )
    except InvalidInput as exc:
        return await _render_settings(
            request,
            db,
            ctx,
            staff,
            public_id,
            errors={"secret": exc.message},
            status=exc.status_code,
        )
    return await _render_settings(request, db, ctx, staff, public_id, rotation=rotation)
