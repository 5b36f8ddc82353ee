"""Admin pages over HTTP: accounts, API tokens, webhook subscriptions and redelivery."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update
from supervisor_support import (
    HTML,
    PASSWORD,
    create_staff,
    create_ticket,
    find_all,
    find_one,
    sign_in,
    sign_in_as,
    text_of,
)

from opsdesk.console import admin_accounts as accounts
from opsdesk.console import admin_webhooks
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import Conflict
from opsdesk.users.models import ApiToken, TeamMember, User
from opsdesk.webhooks.jobs import deliver_due, dispatch_outbox
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription

NEW_PASSWORD = "a different passphrase 42"
RECEIVER_TIMEOUT_SECONDS = 5.0


async def user_by_email(db: Database, email: str) -> User | None:
    async with db.read() as session:
        user: User | None = (
            await session.execute(select(User).where(User.email == email))
        ).scalar_one_or_none()
        return user


async def try_sign_in(client: httpx.AsyncClient, email: str, password: str) -> int:
    """POST the sign-in form and return the status: 303 on success, 401 on failure."""
    client.cookies.clear()
    form = await client.get("/console/login")
    login_csrf = find_one(form.text, "login_csrf", attribute="name").attrs["value"]
    response = await client.post(
        "/console/login",
        data={"email": email, "password": password, "login_csrf": login_csrf, "next": ""},
    )
    return response.status_code


# Users


async def test_created_user_can_sign_in(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    response = await client.post(
        "/console/admin/users",
        data={
            "csrf_token": admin.csrf_token,
            "email": "Tunde@Example.com",
            "name": "Tunde Bello",
            "role": "technician",
            "teams": ["solar_crew", "hvac_crew"],
            "password": NEW_PASSWORD,
        },
        headers=HTML,
    )
    assert response.status_code == 303
    user = await user_by_email(db, "tunde@example.com")
    assert user is not None
    assert response.headers["location"] == f"/console/admin/users/{user.id}?saved=created"
    assert user.role == "technician"
    async with db.read() as session:
        teams = (
            await session.execute(
                select(TeamMember.team)
                .where(TeamMember.user_id == user.id)
                .order_by(TeamMember.team)
            )
        ).scalars()
        assert list(teams) == ["hvac_crew", "solar_crew"]

    detail = await client.get(response.headers["location"], headers=HTML)
    assert "Account created" in text_of(detail.text, "notice")

    client.cookies.clear()
    signed_in = await sign_in(client, db, "tunde@example.com", NEW_PASSWORD)
    assert signed_in.user_id == user.id


async def test_create_user_errors_beside_fields(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    short = await client.post(
        "/console/admin/users",
        data={
            "csrf_token": admin.csrf_token,
            "email": "short@example.com",
            "name": "Kept <name>",
            "role": "agent",
            "password": "too short",
        },
        headers=HTML,
    )
    assert short.status_code == 422
    assert "Password is too short" in text_of(short.text, "error-password")
    assert 'value="Kept &lt;name&gt;"' in short.text
    assert await user_by_email(db, "short@example.com") is None

    duplicate = await client.post(
        "/console/admin/users",
        data={
            "csrf_token": admin.csrf_token,
            "email": "admin@example.com",
            "role": "agent",
            "password": NEW_PASSWORD,
        },
        headers=HTML,
    )
    assert duplicate.status_code == 409
    assert "already exists" in text_of(duplicate.text, "error-email")


async def test_user_text_escaped_in_list(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await create_staff(db, ctx, "agent", name="<img src=x onerror=alert(1)>")
    await sign_in_as(client, db, ctx, "admin")
    page = await client.get("/console/admin/users", headers=HTML)
    assert "&lt;img src=x onerror=alert(1)&gt;" in page.text
    assert "<img src=x" not in page.text
    emails = [row.attrs["data-email"] for row in find_all(page.text, "user-row")]
    assert emails == ["admin@example.com", "agent@example.com"]


async def test_change_role_and_teams(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    _, user_id = await create_staff(db, ctx, "agent")
    admin = await sign_in_as(client, db, ctx, "admin")
    response = await client.post(
        f"/console/admin/users/{user_id}/role",
        data={"csrf_token": admin.csrf_token, "role": "supervisor"},
        headers=HTML,
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("?saved=role")
    response = await client.post(
        f"/console/admin/users/{user_id}/teams",
        data={"csrf_token": admin.csrf_token, "teams": ["front_desk"]},
        headers=HTML,
    )
    assert response.headers["location"].endswith("?saved=teams")
    page = await client.get(f"/console/admin/users/{user_id}", headers=HTML)
    assert text_of(page.text, "user-role") == "Supervisor"
    async with db.read() as session:
        teams = (
            await session.execute(select(TeamMember.team).where(TeamMember.user_id == user_id))
        ).scalars()
        assert list(teams) == ["front_desk"]

    unknown = await client.post(
        f"/console/admin/users/{user_id}/role",
        data={"csrf_token": admin.csrf_token, "role": "owner"},
        headers=HTML,
    )
    assert unknown.status_code == 422
    assert "Unknown role 'owner'" in text_of(unknown.text, "error-role")


async def test_admin_cannot_lock_self_out(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    demote = await client.post(
        f"/console/admin/users/{admin.user_id}/role",
        data={"csrf_token": admin.csrf_token, "role": "agent"},
        headers=HTML,
    )
    assert demote.status_code == 422
    assert "cannot change the role of your own account" in text_of(demote.text, "error-role")
    deactivate = await client.post(
        f"/console/admin/users/{admin.user_id}/active",
        data={"csrf_token": admin.csrf_token, "active": "0"},
        headers=HTML,
    )
    assert deactivate.status_code == 422
    user = await user_by_email(db, admin.email)
    assert user is not None
    assert user.role == "admin"
    assert user.active


@pytest.mark.parametrize("change", ["demote", "deactivate"])
async def test_only_active_admin_kept(db: Database, ctx: Context, change: str) -> None:
    """Another admin demoted at the same moment cannot remove the last active admin."""
    _, only_id = await create_staff(db, ctx, "admin")
    _, former_id = await create_staff(db, ctx, "supervisor", email="former-admin@example.com")
    async with db.read() as session:
        former = await session.get(User, former_id)
    assert former is not None
    async with db.transaction() as session:
        if change == "demote":
            with pytest.raises(Conflict, match="is the only active admin"):
                await accounts.change_role(session, user_id=only_id, role="agent", by=former)
        else:
            with pytest.raises(Conflict, match="is the only active admin"):
                await accounts.set_active(session, user_id=only_id, active=False, by=former)
    user = await user_by_email(db, "admin@example.com")
    assert user is not None
    assert user.role == "admin"
    assert user.active


async def test_other_admin_can_be_demoted(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    _, other_id = await create_staff(db, ctx, "admin", email="other-admin@example.com")
    admin = await sign_in_as(client, db, ctx, "admin")
    response = await client.post(
        f"/console/admin/users/{other_id}/role",
        data={"csrf_token": admin.csrf_token, "role": "supervisor"},
        headers=HTML,
    )
    assert response.status_code == 303
    other = await user_by_email(db, "other-admin@example.com")
    assert other is not None
    assert other.role == "supervisor"


async def test_deactivate_and_reactivate(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    email, user_id = await create_staff(db, ctx, "agent")
    admin = await sign_in_as(client, db, ctx, "admin")
    response = await client.post(
        f"/console/admin/users/{user_id}/active",
        data={"csrf_token": admin.csrf_token, "active": "0"},
        headers=HTML,
    )
    assert response.headers["location"].endswith("?saved=deactivated")
    page = await client.get(f"/console/admin/users/{user_id}", headers=HTML)
    assert text_of(page.text, "user-state") == "Deactivated"
    assert await try_sign_in(client, email, PASSWORD) == 401

    admin = await sign_in(client, db, admin.email)
    response = await client.post(
        f"/console/admin/users/{user_id}/active",
        data={"csrf_token": admin.csrf_token, "active": "1"},
        headers=HTML,
    )
    assert response.headers["location"].endswith("?saved=reactivated")
    assert await try_sign_in(client, email, PASSWORD) == 303


async def test_reset_password(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    email, user_id = await create_staff(db, ctx, "supervisor")
    admin = await sign_in_as(client, db, ctx, "admin")
    short = await client.post(
        f"/console/admin/users/{user_id}/password",
        data={"csrf_token": admin.csrf_token, "password": "short"},
        headers=HTML,
    )
    assert short.status_code == 422
    assert "at least 12 characters" in text_of(short.text, "error-password")
    response = await client.post(
        f"/console/admin/users/{user_id}/password",
        data={"csrf_token": admin.csrf_token, "password": NEW_PASSWORD},
        headers=HTML,
    )
    assert response.headers["location"].endswith("?saved=password")
    assert await try_sign_in(client, email, PASSWORD) == 401
    assert await try_sign_in(client, email, NEW_PASSWORD) == 303


# API tokens


async def test_token_shown_once_and_revoked(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    _, agent_id = await create_staff(db, ctx, "agent")
    admin = await sign_in_as(client, db, ctx, "admin")
    created = await client.post(
        "/console/admin/tokens",
        data={"csrf_token": admin.csrf_token, "user_id": str(agent_id), "name": "billing <sync>"},
        headers=HTML,
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    secret = find_one(created.text, "issued-token-value").attrs["value"]
    assert secret.startswith("odt_")
    assert "billing &lt;sync&gt;" in created.text

    listing = await client.get("/console/admin/tokens", headers=HTML)
    assert secret not in listing.text
    row = find_one(listing.text, "token-row")
    assert row.attrs["data-prefix"] == secret[:12]
    assert "never" in row.text

    bearer = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/tickets", headers=bearer)).status_code == 200
    listing = await client.get("/console/admin/tokens", headers=HTML)
    assert "never" not in find_one(listing.text, "token-row").text

    revoked = await client.post(
        f"/console/admin/tokens/{row.attrs['data-token-id']}/revoke",
        data={"csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert revoked.status_code == 303
    assert (await client.get("/api/v1/tickets", headers=bearer)).status_code == 401
    async with db.read() as session:
        token = (await session.execute(select(ApiToken))).scalar_one()
    assert token.revoked_at == ctx.clock.now()


async def test_token_needs_name(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    response = await client.post(
        "/console/admin/tokens",
        data={"csrf_token": admin.csrf_token, "user_id": str(admin.user_id), "name": "  "},
        headers=HTML,
    )
    assert response.status_code == 422
    assert "Give the token a name" in text_of(response.text, "error-name")
    assert find_all(response.text, "issued-token") == []


# Webhook subscriptions


async def create_subscription(
    client: httpx.AsyncClient, csrf_token: str, url: str, events: list[str], description: str = ""
) -> httpx.Response:
    return await client.post(
        "/console/admin/webhooks",
        data={
            "csrf_token": csrf_token,
            "url": url,
            "kind": "webhook",
            "event_types": events,
            "description": description,
        },
        headers=HTML,
    )


async def test_subscription_create_and_delete(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    created = await create_subscription(
        client,
        admin.csrf_token,
        "https://example.com/hooks/opsdesk",
        ["ticket.created", "sla.breached"],
        description="<b>CRM</b> sync",
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    public_id = find_one(created.text, "created-subscription").attrs["data-subscription-id"]
    secret = find_one(created.text, "created-secret").attrs["value"]
    assert secret.startswith("whsec_")
    assert "&lt;b&gt;CRM&lt;/b&gt; sync" in created.text

    listing = await client.get("/console/admin/webhooks", headers=HTML)
    assert secret not in listing.text
    row = find_one(listing.text, public_id, attribute="data-subscription-id")
    assert "ticket.created, sla.breached" in row.text or "sla.breached, ticket.created" in row.text

    deleted = await client.post(
        f"/console/admin/webhooks/{public_id}/delete",
        data={"csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert deleted.status_code == 303
    async with db.read() as session:
        found = await session.scalar(
            select(WebhookSubscription.id).where(WebhookSubscription.public_id == public_id)
        )
    assert found is None


async def test_subscription_form_errors(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    response = await create_subscription(client, admin.csrf_token, "not a url", [])
    assert response.status_code == 422
    assert "Invalid URL" in text_of(response.text, "error-url")
    assert "Choose at least one event type" in text_of(response.text, "error-event_types")
    async with db.read() as session:
        count = len(
            list(
                (
                    await session.execute(
                        select(WebhookSubscription).where(
                            WebhookSubscription.workspace_key.is_(None)
                        )
                    )
                ).scalars()
            )
        )
    assert count == 0


async def test_workspace_subscription_not_deleted(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    async with db.read() as session:
        declared = (
            await session.execute(
                select(WebhookSubscription).where(WebhookSubscription.workspace_key == "ops_slack")
            )
        ).scalar_one()
    response = await client.post(
        f"/console/admin/webhooks/{declared.public_id}/delete",
        data={"csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 422
    assert "declared in the workspace file" in text_of(response.text, "error-list")


# Redelivery against a receiver on 127.0.0.1


@dataclass
class Receiver:
    """An HTTP server on an ephemeral port of 127.0.0.1 that replies 200 to every POST."""

    requests: list[dict[str, str]] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/hooks"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append(headers)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    receiver.server = await asyncio.start_server(receiver.handle, "127.0.0.1", 0)
    try:
        yield receiver
    finally:
        receiver.server.close()
        await receiver.server.wait_closed()


async def deliver(db: Database, ctx: Context) -> int:
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as outbound:
        await dispatch_outbox(db, ctx)
        async with asyncio.timeout(RECEIVER_TIMEOUT_SECONDS):
            return await deliver_due(db, ctx, outbound, owner="test-worker")


async def test_redeliver_sends_same_webhook_id(
    client: httpx.AsyncClient, db: Database, ctx: Context, receiver: Receiver
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    created = await create_subscription(client, admin.csrf_token, receiver.url, ["ticket.created"])
    public_id = find_one(created.text, "created-subscription").attrs["data-subscription-id"]
    await create_ticket(db, ctx)
    assert await deliver(db, ctx) == 1
    assert len(receiver.requests) == 1

    log = await client.get(f"/console/admin/webhooks/{public_id}", headers=HTML)
    delivery = find_one(log.text, "delivery")
    assert delivery.attrs["data-status"] == "succeeded"
    attempts = find_all(log.text, "attempt")
    assert [attempt.attrs["data-number"] for attempt in attempts] == ["1"]
    assert "200" in attempts[0].text
    assert "Succeeded" in attempts[0].text

    delivery_id = delivery.attrs["data-delivery-id"]
    queued = await client.post(
        f"/console/admin/webhooks/deliveries/{delivery_id}/redeliver",
        data={"csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert queued.status_code == 303
    async with db.read() as session:
        row = (
            await session.execute(
                select(WebhookDelivery).where(WebhookDelivery.public_id == delivery_id)
            )
        ).scalar_one()
    assert row.status == "pending"
    assert row.next_attempt_at == ctx.clock.now()
    assert row.completed_at is None

    assert await deliver(db, ctx) == 1
    assert len(receiver.requests) == 2
    assert receiver.requests[1]["webhook-id"] == receiver.requests[0]["webhook-id"]

    log = await client.get(queued.headers["location"], headers=HTML)
    assert find_one(log.text, "delivery").attrs["data-status"] == "succeeded"
    numbers = [attempt.attrs["data-number"] for attempt in find_all(log.text, "attempt")]
    assert numbers == ["2", "1"]
    async with db.read() as session:
        outcomes = (
            await session.execute(select(WebhookAttempt.outcome).order_by(WebhookAttempt.number))
        ).scalars()
        assert list(outcomes) == ["succeeded", "succeeded"]


async def test_redeliver_refused_while_sending(
    client: httpx.AsyncClient, db: Database, ctx: Context, receiver: Receiver
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    created = await create_subscription(client, admin.csrf_token, receiver.url, ["ticket.created"])
    public_id = find_one(created.text, "created-subscription").attrs["data-subscription-id"]
    await create_ticket(db, ctx)
    await dispatch_outbox(db, ctx)
    async with db.transaction() as session:
        await session.execute(
            update(WebhookDelivery).values(
                lease_owner="other-worker",
                lease_expires_at=ctx.clock.now() + timedelta(seconds=30),
            )
        )
        delivery_id = (await session.execute(select(WebhookDelivery.public_id))).scalar_one()
    response = await client.post(
        f"/console/admin/webhooks/deliveries/{delivery_id}/redeliver",
        data={"csrf_token": admin.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 409
    assert "being sent right now" in text_of(response.text, "error")
    assert find_one(response.text, "delivery").attrs["data-delivery-id"] == delivery_id
    assert public_id in response.text


async def test_admin_home_counts(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    await create_staff(db, ctx, "agent")
    await sign_in_as(client, db, ctx, "admin")
    page = await client.get("/console/admin", headers=HTML)
    assert text_of(page.text, "admin-active-users") == "2"
    assert text_of(page.text, "admin-inactive-users") == "0"
    assert text_of(page.text, "admin-failed-deliveries") == "0"


async def test_slack_subscription_has_no_secret(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    response = await client.post(
        "/console/admin/webhooks",
        data={
            "csrf_token": admin.csrf_token,
            "url": "https://hooks.slack.com/services/T000/B000/XXXX",
            "kind": "slack",
            "event_types": ["*"],
        },
        headers=HTML,
    )
    assert response.status_code == 200
    assert find_one(response.text, "created-subscription")
    assert find_all(response.text, "created-secret") == []
    assert "not signed" in text_of(response.text, "created-subscription")


async def test_delivery_log_pages(
    client: httpx.AsyncClient,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admin_webhooks, "DELIVERIES_PER_PAGE", 2)
    admin = await sign_in_as(client, db, ctx, "admin")
    created = await create_subscription(client, admin.csrf_token, receiver.url, ["ticket.created"])
    public_id = find_one(created.text, "created-subscription").attrs["data-subscription-id"]
    for _ in range(3):
        await create_ticket(db, ctx)
    await dispatch_outbox(db, ctx)

    first = await client.get(f"/console/admin/webhooks/{public_id}", headers=HTML)
    newest = [delivery.attrs["data-delivery-id"] for delivery in find_all(first.text, "delivery")]
    assert len(newest) == 2
    assert all(d.attrs["data-status"] == "pending" for d in find_all(first.text, "delivery"))
    older_link = find_one(first.text, "older").attrs["href"]

    second = await client.get(older_link, headers=HTML)
    oldest = [delivery.attrs["data-delivery-id"] for delivery in find_all(second.text, "delivery")]
    assert len(oldest) == 1
    assert find_all(second.text, "older") == []
    async with db.read() as session:
        ids = (
            await session.execute(
                select(WebhookDelivery.public_id).order_by(WebhookDelivery.id.desc())
            )
        ).scalars()
        assert list(ids) == newest + oldest
