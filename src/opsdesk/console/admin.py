"""The admin section of the console: accounts, API tokens and webhook subscriptions."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from opsdesk.console.admin_users import router as users_router
from opsdesk.console.admin_webhook_settings import router as webhook_settings_router
from opsdesk.console.admin_webhooks import router as webhooks_router
from opsdesk.console.deps import AdminStaff
from opsdesk.users.models import ApiToken, User
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render
from opsdesk.webhooks.models import WebhookDelivery, WebhookSubscription

router = APIRouter(include_in_schema=False)
router.include_router(users_router)
router.include_router(webhooks_router)
router.include_router(webhook_settings_router)

FAILED_WINDOW = timedelta(hours=24)


@router.get("/console/admin", response_class=HTMLResponse)
async def admin_home(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    since = ctx.clock.now() - FAILED_WINDOW
    async with db.read() as session:
        active_users = await session.scalar(
            select(func.count()).select_from(User).where(User.active.is_(True))
        )
        inactive_users = await session.scalar(
            select(func.count()).select_from(User).where(User.active.is_(False))
        )
        active_tokens = await session.scalar(
            select(func.count()).select_from(ApiToken).where(ApiToken.revoked_at.is_(None))
        )
        subscriptions = await session.scalar(
            select(func.count())
            .select_from(WebhookSubscription)
            .where(WebhookSubscription.active.is_(True))
        )
        failed = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "failed", WebhookDelivery.completed_at >= since)
        )
    return render(
        request,
        "console/admin/index.html",
        {
            "staff": staff,
            "nav": "admin",
            "active_users": active_users or 0,
            "inactive_users": inactive_users or 0,
            "active_tokens": active_tokens or 0,
            "subscriptions": subscriptions or 0,
            "failed_deliveries": failed or 0,
        },
    )
