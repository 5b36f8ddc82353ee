"""Automatic disabling: 410 Gone at once, a long failing run after the limit."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from webhook_receiver import (
    Receiver,
    Reply,
    create_subscription,
    list_deliveries,
    run_delivery_jobs,
    submit_request,
)

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.notifications.models import Notification
from opsdesk.settings import Settings
from opsdesk.users.models import User
from opsdesk.webhooks.disable import disable_subscription
from opsdesk.webhooks.jobs import deliver_due, dispatch_outbox
from opsdesk.webhooks.models import WebhookSubscription
from opsdesk.webhooks.service import sync_workspace_subscriptions
from opsdesk.workspace import parse_workspace
from support import EXAMPLE_WORKSPACE

SUBSCRIPTIONS = "/api/v1/webhook-subscriptions"
DISABLE_AFTER_SECONDS = 600


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_disable_after_seconds": DISABLE_AFTER_SECONDS})


async def subscription_view(
    client: httpx.AsyncClient, headers: dict[str, str], subscription_id: str
) -> dict[str, Any]:
    response = await client.get(f"{SUBSCRIPTIONS}/{subscription_id}", headers=headers)
    assert response.status_code == 200
    shown: dict[str, Any] = response.json()
    return shown


async def disabled_notices(db: Database) -> list[tuple[str, str, str]]:
    """Return (recipient e-mail, title, body) of every webhook.disabled notification."""
    async with db.read() as session:
        rows = await session.execute(
            select(User.email, Notification.title, Notification.body)
            .join(User, User.id == Notification.user_id)
            .where(Notification.kind == "webhook.disabled")
            .order_by(User.email)
        )
        return [tuple(row) for row in rows.all()]


async def disabled_events(db: Database) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxEvent.payload).where(OutboxEvent.type == "webhook.disabled")
        )
        return [payload for (payload,) in rows.all()]


async def test_gone_disables_at_once(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    first_admin = await make_user("admin", email="admin-a@example.com")
    await make_user("admin", email="admin-b@example.com")
    await make_user("agent", email="agent@example.com")
    subscription = await create_subscription(
        client, first_admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    receiver.script(Reply(410, body=b"gone"))
    await submit_request(client)
    await submit_request(client, subject="A second request")
    await dispatch_outbox(db, ctx)

    with caplog.at_level(logging.WARNING, logger="opsdesk.webhooks.disable"):
        assert await deliver_due(db, ctx, outbound, owner="test-worker", limit=1) == 1
    assert await run_delivery_jobs(db, ctx, outbound) == 0

    assert len(receiver.requests) == 1
    shown = await subscription_view(client, first_admin.headers, subscription["id"])
    assert shown["active"] is False
    assert shown["disabled_reason"].startswith("disabled automatically: ")
    assert "410 Gone" in shown["disabled_reason"]
    assert shown["failing_since"] is not None
    deliveries = await list_deliveries(client, first_admin.headers, subscription["id"])
    assert sorted(delivery["status"] for delivery in deliveries) == ["failed", "failed"]
    [stopped] = [delivery for delivery in deliveries if delivery["attempt_count"] == 0]
    assert stopped["last_error"] == f"not sent: subscription {subscription['id']} was disabled"
    notices = await disabled_notices(db)
    assert [email for email, _, _ in notices] == ["admin-a@example.com", "admin-b@example.com"]
    assert notices[0][1] == "Webhook to 127.0.0.1 disabled"
    assert subscription["id"] in notices[0][2]
    [event] = await disabled_events(db)
    assert event["subscription"] == subscription["id"]
    assert event["host"] == "127.0.0.1"
    assert event["stopped_deliveries"] == 1
    assert "410 Gone" in event["reason"]
    [line] = [record for record in caplog.records if "disabled" in record.getMessage()]
    assert line.levelno == logging.WARNING
    assert subscription["id"] in line.getMessage()
    assert receiver.url not in line.getMessage()


async def test_failing_run_disables_after_limit(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    receiver.script(*[Reply(500)] * 10)
    started = clock.now()
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    shown = await subscription_view(client, admin.headers, subscription["id"])
    assert shown["active"] is True
    assert shown["failing_since"] == started.isoformat().replace("+00:00", "Z")

    clock.advance(timedelta(seconds=DISABLE_AFTER_SECONDS - 1))
    await run_delivery_jobs(db, ctx, outbound)
    assert (await subscription_view(client, admin.headers, subscription["id"]))["active"] is True

    clock.advance(timedelta(seconds=1))
    await submit_request(client, subject="A second request")
    await run_delivery_jobs(db, ctx, outbound)

    shown = await subscription_view(client, admin.headers, subscription["id"])
    assert shown["active"] is False
    assert "every delivery attempt failed for 10m" in shown["disabled_reason"]
    assert len(await disabled_notices(db)) == 1
    assert len(await disabled_events(db)) == 1
    deliveries = await list_deliveries(client, admin.headers, subscription["id"])
    assert [delivery["status"] for delivery in deliveries] == ["failed", "failed"]
    sent = len(receiver.requests)
    clock.advance(timedelta(hours=1))
    assert await run_delivery_jobs(db, ctx, outbound) == 0
    assert len(receiver.requests) == sent


async def test_success_ends_failing_run(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    receiver.script(Reply(503))
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    assert (await subscription_view(client, admin.headers, subscription["id"]))["failing_since"]

    clock.advance(timedelta(seconds=DISABLE_AFTER_SECONDS - 60))
    await run_delivery_jobs(db, ctx, outbound)
    shown = await subscription_view(client, admin.headers, subscription["id"])
    assert shown["failing_since"] is None
    receiver.script(Reply(503))
    clock.advance(timedelta(seconds=120))
    await submit_request(client, subject="A second request")
    await run_delivery_jobs(db, ctx, outbound)

    shown = await subscription_view(client, admin.headers, subscription["id"])
    assert shown["active"] is True
    assert shown["failing_since"] == clock.now().isoformat().replace("+00:00", "Z")


async def test_enable_clears_failing_run(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    receiver.script(Reply(410))
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    [gone] = await list_deliveries(client, admin.headers, subscription["id"])

    enabled = await client.patch(
        f"{SUBSCRIPTIONS}/{subscription['id']}", json={"active": True}, headers=admin.headers
    )

    assert enabled.status_code == 200, enabled.text
    shown = enabled.json()
    assert shown["active"] is True
    assert shown["failing_since"] is None
    assert shown["disabled_reason"] is None
    assert shown["disabled_at"] is None
    redelivered = await client.post(
        f"/api/v1/webhook-deliveries/{gone['id']}/redeliver", headers=admin.headers
    )
    assert redelivered.status_code == 202
    await submit_request(client, subject="After the fix")
    await run_delivery_jobs(db, ctx, outbound)
    assert len(receiver.requests) == 3
    deliveries = await list_deliveries(client, admin.headers, subscription["id"])
    assert [delivery["status"] for delivery in deliveries] == ["succeeded", "succeeded"]


async def test_workspace_sync_keeps_disabled(db: Database, ctx: Context, make_user) -> None:
    await make_user("admin")
    text = EXAMPLE_WORKSPACE.read_text(encoding="utf-8")
    first = parse_workspace(
        text, environ={"OPSDESK_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/one"}
    )
    moved = parse_workspace(
        text, environ={"OPSDESK_SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T/B/two"}
    )
    async with db.transaction() as session:
        await sync_workspace_subscriptions(session, first, at=ctx.clock.now())
    async with db.transaction() as session:
        row = (await session.execute(select(WebhookSubscription))).scalar_one()
        assert row.active is True
        await disable_subscription(session, ctx, row, reason="the receiver answered 410 Gone")

    async with db.transaction() as session:
        await sync_workspace_subscriptions(session, first, at=ctx.clock.now())
    async with db.read() as session:
        kept = (await session.execute(select(WebhookSubscription))).scalar_one()
        assert kept.active is False
        assert kept.disabled_reason is not None
        assert "410 Gone" in kept.disabled_reason
    async with db.transaction() as session:
        await sync_workspace_subscriptions(session, moved, at=ctx.clock.now())
    async with db.read() as session:
        changed = (await session.execute(select(WebhookSubscription))).scalar_one()
        assert changed.active is True
        assert changed.failing_since is None
