"""Webhook subscription options in the admin console over HTTP: conditions, headers,
payload templates, secret rotation, pausing, and the request and response in the log."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from supervisor_support import HTML, create_ticket, find_all, find_one, sign_in_as, text_of

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.web.app import create_app
from opsdesk.webhooks.jobs import REQUEST_BODY_LOG_BYTES, deliver_due, dispatch_outbox
from opsdesk.webhooks.models import WebhookSubscription
from opsdesk.webhooks.rotation import signing_secrets

RECEIVER_TIMEOUT_SECONDS = 5.0
HOOK_URL = "https://hooks.example.com/opsdesk"
GATEWAY_TOKEN = "gateway-token-123"
TEMPLATE = '{"text": {{ ("New ticket " ~ data.reference) | tojson }}}'
TEXTAREA_IDS = {
    "conditions": "subscription-conditions",
    "headers": "subscription-headers",
    "payload_template": "subscription-payload-template",
}


async def subscription_row(db: Database, public_id: str) -> WebhookSubscription:
    async with db.read() as session:
        row: WebhookSubscription = (
            await session.execute(
                select(WebhookSubscription).where(WebhookSubscription.public_id == public_id)
            )
        ).scalar_one()
        return row


async def api_subscription_count(db: Database) -> int:
    async with db.read() as session:
        rows = await session.execute(
            select(WebhookSubscription.id).where(WebhookSubscription.workspace_key.is_(None))
        )
        return len(list(rows))


async def post_create(client: httpx.AsyncClient, csrf_token: str, **fields: Any) -> httpx.Response:
    data = {
        "csrf_token": csrf_token,
        "url": HOOK_URL,
        "kind": "webhook",
        "event_types": ["ticket.created"],
        "description": "",
    } | fields
    return await client.post("/console/admin/webhooks", data=data, headers=HTML)


async def create_with_options(client: httpx.AsyncClient, csrf_token: str, **fields: Any) -> str:
    """Create a subscription through the console form and return its public id."""
    response = await post_create(client, csrf_token, **fields)
    assert response.status_code == 200, response.text
    return find_one(response.text, "created-subscription").attrs["data-subscription-id"]


def form_values(html: str) -> dict[str, Any]:
    """Return the settings form's fields as a browser would submit them unchanged."""
    values: dict[str, Any] = {"event_types": []}
    for element in find_all(html, attribute="name"):
        name = element.attrs["name"]
        if element.tag == "textarea":
            values[name] = "".join(element.parts)
        elif element.attrs.get("type") == "checkbox":
            if "checked" in element.attrs:
                values[name].append(element.attrs["value"])
        elif element.tag == "input":
            values[name] = element.attrs.get("value", "")
    return values


async def settings_form(client: httpx.AsyncClient, public_id: str) -> dict[str, Any]:
    page = await client.get(f"/console/admin/webhooks/{public_id}/settings", headers=HTML)
    assert page.status_code == 200, page.text
    form = find_one(page.text, "subscription-settings-form")
    values = form_values(page.text[page.text.index("subscription-settings-form") :])
    assert form.tag == "form"
    return values


async def post_settings(
    client: httpx.AsyncClient, public_id: str, values: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"/console/admin/webhooks/{public_id}/settings", data=values, headers=HTML
    )


# Creating with options


async def test_create_stores_options(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")

    public_id = await create_with_options(
        client,
        admin.csrf_token,
        conditions="all:\n  - {field: priority, in: [high, urgent]}\n",
        headers=f"Authorization: Bearer {GATEWAY_TOKEN}\nX-Tenant: brightline\n",
        payload_template=TEMPLATE,
    )

    row = await subscription_row(db, public_id)
    assert row.conditions == {"all": [{"field": "priority", "in": ["high", "urgent"]}]}
    assert row.headers == {"authorization": f"Bearer {GATEWAY_TOKEN}", "x-tenant": "brightline"}
    assert row.payload_template == TEMPLATE
    listing = await client.get("/console/admin/webhooks", headers=HTML)
    links = [link.attrs["href"] for link in find_all(listing.text, "settings-link")]
    assert f"/console/admin/webhooks/{public_id}/settings" in links
    assert GATEWAY_TOKEN not in listing.text


@pytest.mark.parametrize(
    ("fields", "error_field", "expected"),
    [
        ({"payload_template": '{"a": {{ data.reference }'}, "payload_template", "syntax error"),
        ({"payload_template": '{"a": {{ data.reference }}}'}, "payload_template", "not valid JSON"),
        (
            {"payload_template": "{{ data.__class__.__mro__ }}"},
            "payload_template",
            "SecurityError",
        ),
        (
            {"conditions": '{"all": [{"field": "priority", "equals": "critical"}]}'},
            "conditions",
            "(at conditions.all.0.equals)",
        ),
        ({"conditions": "[priority]"}, "conditions", "must be an object"),
        ({"conditions": "{field: [unclosed"}, "conditions", "not valid JSON or YAML"),
        ({"headers": "Host: evil.example"}, "headers", "Set by Opsdesk for every delivery"),
        ({"headers": "X-Tenant brightline"}, "headers", "Line 1 of the headers is not a header"),
        ({"headers": "X-Tenant: a\nx-tenant: b"}, "headers", "Line 2 repeats the header x-tenant"),
    ],
)
async def test_create_rejects_invalid_option(
    fields: dict[str, str],
    error_field: str,
    expected: str,
    client: httpx.AsyncClient,
    db: Database,
    ctx: Context,
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")

    response = await post_create(client, admin.csrf_token, **fields)

    assert response.status_code == 422
    assert expected in text_of(response.text, f"error-{error_field}")
    assert await api_subscription_count(db) == 0
    textarea = find_one(response.text, TEXTAREA_IDS[error_field], attribute="id")
    assert "".join(textarea.parts) == fields[error_field]


async def test_template_error_names_event_type(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")

    response = await post_create(
        client,
        admin.csrf_token,
        event_types=["ticket.created", "sla.breached"],
        payload_template='{"a": {{ data.subject | tojson }}}',
    )

    assert response.status_code == 422
    assert "for a sample sla.breached event" in text_of(response.text, "error-payload_template")


# Changing a subscription


async def test_settings_show_headers_masked(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(
        client,
        admin.csrf_token,
        headers=f"Authorization: Bearer {GATEWAY_TOKEN}\nX-Api-Key: key-456\nX-Tenant: brightline",
    )

    page = await client.get(f"/console/admin/webhooks/{public_id}/settings", headers=HTML)

    assert page.headers["cache-control"] == "no-store"
    assert GATEWAY_TOKEN not in page.text
    assert "key-456" not in page.text
    values = await settings_form(client, public_id)
    assert values["headers"].splitlines() == [
        "authorization: Bearer …",
        "x-api-key: …",
        "x-tenant: brightline",
    ]


async def test_saving_masked_headers_keeps_values(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(
        client,
        admin.csrf_token,
        headers=f"Authorization: Bearer {GATEWAY_TOKEN}\nX-Api-Key: key-456\nX-Tenant: brightline",
    )
    values = await settings_form(client, public_id)
    values["headers"] = values["headers"].replace("x-tenant: brightline", "x-tenant: solar")
    values["headers"] = values["headers"].replace("x-api-key: …\n", "")

    saved = await post_settings(client, public_id, values)

    assert saved.status_code == 303
    assert saved.headers["location"].endswith("?saved=settings")
    row = await subscription_row(db, public_id)
    assert row.headers == {"authorization": f"Bearer {GATEWAY_TOKEN}", "x-tenant": "solar"}


async def test_changed_secret_header_replaces_value(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(
        client, admin.csrf_token, headers=f"Authorization: Bearer {GATEWAY_TOKEN}"
    )
    values = await settings_form(client, public_id)
    values["headers"] = "Authorization: Bearer rotated-token-789"

    saved = await post_settings(client, public_id, values)

    assert saved.status_code == 303
    row = await subscription_row(db, public_id)
    assert row.headers == {"authorization": "Bearer rotated-token-789"}


async def test_settings_change_every_field(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(client, admin.csrf_token, description="CRM")
    values = await settings_form(client, public_id)
    assert values["url"] == HOOK_URL
    assert values["event_types"] == ["ticket.created"]
    assert values["description"] == "CRM"
    values |= {
        "url": "https://crm.example.com/hooks",
        "event_types": ["sla.breached", "sla.warning"],
        "description": "",
        "conditions": '{"field": "metric", "equals": "resolution"}',
        "payload_template": '{"ref": {{ data.reference | tojson }}}',
    }

    saved = await post_settings(client, public_id, values)

    assert saved.status_code == 303, saved.text
    row = await subscription_row(db, public_id)
    assert row.url == "https://crm.example.com/hooks"
    assert row.event_types == ["sla.breached", "sla.warning"]
    assert row.description is None
    assert row.conditions == {"field": "metric", "equals": "resolution"}
    assert row.payload_template == '{"ref": {{ data.reference | tojson }}}'
    page = await client.get(saved.headers["location"], headers=HTML)
    assert text_of(page.text, "notice") == "Subscription saved."
    shown = await settings_form(client, public_id)
    assert json.loads(shown["conditions"]) == {"field": "metric", "equals": "resolution"}

    shown |= {"conditions": "", "payload_template": ""}
    cleared = await post_settings(client, public_id, shown)

    assert cleared.status_code == 303
    row = await subscription_row(db, public_id)
    assert row.conditions is None
    assert row.payload_template is None


@pytest.mark.parametrize(
    ("change", "error_field", "expected"),
    [
        ({"payload_template": '{"a": {{ data.reference }'}, "payload_template", "syntax error"),
        ({"conditions": '{"field": "colour", "equals": "red"}'}, "conditions", "Unknown field"),
        ({"headers": "Content-Type: text/plain"}, "headers", "Set by Opsdesk"),
        ({"url": "http://10.0.0.1/hook"}, "url", "Invalid url"),
        ({"event_types": []}, "event_types", "Choose at least one event type"),
    ],
)
async def test_invalid_settings_change_nothing(
    change: dict[str, Any],
    error_field: str,
    expected: str,
    client: httpx.AsyncClient,
    db: Database,
    ctx: Context,
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(
        client, admin.csrf_token, payload_template=TEMPLATE, headers="X-Tenant: brightline"
    )
    values = await settings_form(client, public_id) | change

    response = await post_settings(client, public_id, values)

    assert response.status_code == 422
    assert expected in text_of(response.text, f"error-{error_field}")
    row = await subscription_row(db, public_id)
    assert row.url == HOOK_URL
    assert row.payload_template == TEMPLATE
    assert row.headers == {"x-tenant": "brightline"}
    assert row.conditions is None


async def test_pause_and_enable(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(client, admin.csrf_token)

    paused = await client.post(
        f"/console/admin/webhooks/{public_id}/active",
        data={"csrf_token": admin.csrf_token, "active": "false"},
        headers=HTML,
    )

    assert paused.status_code == 303
    row = await subscription_row(db, public_id)
    assert row.active is False
    assert row.disabled_reason == "paused by an admin"
    page = await client.get(paused.headers["location"], headers=HTML)
    assert find_one(page.text, "enable")

    enabled = await client.post(
        f"/console/admin/webhooks/{public_id}/active",
        data={"csrf_token": admin.csrf_token, "active": "true"},
        headers=HTML,
    )

    assert enabled.status_code == 303
    row = await subscription_row(db, public_id)
    assert row.active is True


async def test_workspace_subscription_read_only(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    async with db.read() as session:
        declared = (
            await session.execute(
                select(WebhookSubscription).where(WebhookSubscription.workspace_key == "ops_slack")
            )
        ).scalar_one()

    page = await client.get(f"/console/admin/webhooks/{declared.public_id}/settings", headers=HTML)

    assert page.status_code == 200
    assert "ops_slack" in text_of(page.text, "workspace-note")
    assert find_all(page.text, "save-settings") == []
    assert find_all(page.text, "rotate-secret") == []
    assert "disabled" in find_one(page.text, "subscription-url", attribute="id").attrs
    changed = await client.post(
        f"/console/admin/webhooks/{declared.public_id}/settings",
        data={"csrf_token": admin.csrf_token, "url": HOOK_URL, "event_types": ["*"]},
        headers=HTML,
    )
    assert changed.status_code == 422
    assert "declared in the workspace file" in text_of(changed.text, "error-form")
    assert text_of(changed.text, "error-url") == "Set in the workspace file."
    enabled = await client.post(
        f"/console/admin/webhooks/{declared.public_id}/active",
        data={"csrf_token": admin.csrf_token, "active": "true"},
        headers=HTML,
    )
    assert enabled.status_code == 422
    assert "has no URL in the workspace file" in text_of(enabled.text, "error-active")


async def test_settings_need_admin_and_token(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(client, admin.csrf_token)

    no_token = await client.post(
        f"/console/admin/webhooks/{public_id}/rotate-secret", data={}, headers=HTML
    )
    assert no_token.status_code == 403
    missing = await client.get("/console/admin/webhooks/sub_missing/settings", headers=HTML)
    assert missing.status_code == 404
    await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get(f"/console/admin/webhooks/{public_id}/settings", headers=HTML)
    assert page.status_code == 403
    row = await subscription_row(db, public_id)
    assert row.previous_secret is None


# Secret rotation


async def test_rotation_shows_new_secret_once(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    created = await post_create(client, admin.csrf_token)
    public_id = find_one(created.text, "created-subscription").attrs["data-subscription-id"]
    old_secret = find_one(created.text, "created-secret").attrs["value"]

    rotated = await client.post(
        f"/console/admin/webhooks/{public_id}/rotate-secret",
        data={"csrf_token": admin.csrf_token},
        headers=HTML,
    )

    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    new_secret = find_one(rotated.text, "rotated-secret").attrs["value"]
    assert new_secret.startswith("whsec_")
    assert new_secret != old_secret
    overlap = timedelta(seconds=ctx.settings.webhook_secret_overlap_seconds)
    shown_until = find_one(rotated.text, "previous-valid-until-time")
    assert shown_until.attrs["datetime"] == (ctx.clock.now() + overlap).isoformat()
    assert "also signs deliveries until" in text_of(rotated.text, "previous-valid-until")
    row = await subscription_row(db, public_id)
    assert row.secret == new_secret
    assert signing_secrets(row, at=ctx.clock.now()) == [new_secret, old_secret]
    assert signing_secrets(row, at=ctx.clock.now() + overlap) == [new_secret]
    later = await client.get(f"/console/admin/webhooks/{public_id}/settings", headers=HTML)
    assert new_secret not in later.text
    assert old_secret not in later.text


@asynccontextmanager
async def console_client(db: Database, ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """A console client of an app built with `ctx`, for settings the fixtures do not set."""
    app = create_app(settings=ctx.settings, workspace=ctx.workspace, database=db, clock=ctx.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def test_rotation_without_overlap(db: Database, ctx: Context) -> None:
    settings = ctx.settings.model_copy(update={"webhook_secret_overlap_seconds": 0})
    no_overlap = dataclasses.replace(ctx, settings=settings)
    async with console_client(db, no_overlap) as client:
        admin = await sign_in_as(client, db, no_overlap, "admin")
        public_id = await create_with_options(client, admin.csrf_token)

        rotated = await client.post(
            f"/console/admin/webhooks/{public_id}/rotate-secret",
            data={"csrf_token": admin.csrf_token},
            headers=HTML,
        )

    assert rotated.status_code == 200
    assert "no longer signs" in text_of(rotated.text, "previous-valid-until")
    row = await subscription_row(db, public_id)
    assert row.previous_secret is None
    assert signing_secrets(row, at=ctx.clock.now()) == [row.secret]


async def test_slack_secret_not_rotated(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(
        client,
        admin.csrf_token,
        kind="slack",
        url="https://hooks.slack.com/services/T000/B000/XXXX",
    )

    response = await client.post(
        f"/console/admin/webhooks/{public_id}/rotate-secret",
        data={"csrf_token": admin.csrf_token},
        headers=HTML,
    )

    assert response.status_code == 422
    assert "not signed" in text_of(response.text, "error-secret")
    assert find_all(response.text, "rotated-secret") == []


# The delivery log


@dataclass
class RecordingReceiver:
    """An HTTP server on 127.0.0.1 that keeps each request and replies with set headers."""

    reply_headers: list[tuple[str, str]]
    bodies: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/hooks"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        self.bodies.append(await reader.readexactly(length))
        extra = "".join(f"{name}: {value}\r\n" for name, value in self.reply_headers)
        writer.write(
            (
                "HTTP/1.1 202 Accepted\r\ncontent-length: 8\r\nconnection: close\r\n"
                f"{extra}\r\nqueued-1"
            ).encode("latin-1")
        )
        await writer.drain()
        writer.close()


@pytest.fixture
async def recording_receiver() -> AsyncIterator[RecordingReceiver]:
    receiver = RecordingReceiver(
        reply_headers=[
            ("X-Request-Id", "req-42"),
            ("Set-Cookie", "session=abc123"),
            ("Vary", "Accept"),
            ("Vary", "Origin"),
        ]
    )
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


async def test_log_shows_request_and_response(
    client: httpx.AsyncClient, db: Database, ctx: Context, recording_receiver: RecordingReceiver
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    public_id = await create_with_options(
        client,
        admin.csrf_token,
        url=recording_receiver.url,
        headers=f"Authorization: Bearer {GATEWAY_TOKEN}\nX-Tenant: brightline",
    )
    await create_ticket(db, ctx)
    assert await deliver(db, ctx) == 1

    log = await client.get(f"/console/admin/webhooks/{public_id}", headers=HTML)

    assert log.status_code == 200
    exchange = find_one(log.text, "attempt-exchange")
    assert exchange.attrs["data-number"] == "1"
    request_headers = text_of(log.text, "request-headers")
    assert "authorization: Bearer …" in request_headers
    assert "x-tenant: brightline" in request_headers
    assert "webhook-signature: …" in request_headers
    [sent] = recording_receiver.bodies
    shown_body = "".join(find_one(log.text, "request-body").parts)
    assert shown_body == sent.decode()
    response_headers = text_of(log.text, "response-headers")
    assert "x-request-id: req-42" in response_headers
    assert "set-cookie: …" in response_headers
    assert "vary: Accept, Origin" in response_headers
    assert text_of(log.text, "response-body") == "queued-1"
    assert GATEWAY_TOKEN not in log.text
    assert "abc123" not in log.text


async def test_log_cuts_long_request_body(
    client: httpx.AsyncClient, db: Database, ctx: Context, recording_receiver: RecordingReceiver
) -> None:
    admin = await sign_in_as(client, db, ctx, "admin")
    padding = REQUEST_BODY_LOG_BYTES + 500
    public_id = await create_with_options(
        client,
        admin.csrf_token,
        url=recording_receiver.url,
        payload_template=f'{{"pad": {{{{ ("x" * {padding}) | tojson }}}}}}',
    )
    await create_ticket(db, ctx)
    assert await deliver(db, ctx) == 1

    log = await client.get(f"/console/admin/webhooks/{public_id}", headers=HTML)

    [sent] = recording_receiver.bodies
    assert len(sent) > REQUEST_BODY_LOG_BYTES
    exchange = find_one(log.text, "attempt-exchange")
    assert f"The first {REQUEST_BODY_LOG_BYTES} of {len(sent)} bytes." in exchange.text
    shown_body = "".join(find_one(log.text, "request-body").parts)
    assert shown_body == sent[:REQUEST_BODY_LOG_BYTES].decode()
