"""The delivery log keeps each attempt's request body and response headers, masked."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from alembic import command
from webhook_receiver import (
    Receiver,
    Reply,
    create_subscription,
    list_deliveries,
    run_delivery_jobs,
    submit_request,
)

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.migrate import alembic_config, migrate
from opsdesk.webhooks.jobs import REQUEST_BODY_LOG_BYTES, request_body_log

GATEWAY_TOKEN = "gateway-token-123"


async def test_attempt_has_request_and_response(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.created"],
        headers={"Authorization": f"Bearer {GATEWAY_TOKEN}"},
    )
    receiver.script(
        Reply(
            status=202,
            body=b'{"queued": true}',
            headers={"x-request-id": "req-42", "set-cookie": "session=cookie-secret"},
        )
    )
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    [attempt] = delivery["attempts"]
    assert attempt["request_body"] == request.body.decode()
    assert attempt["request_body_bytes"] == len(request.body)
    assert attempt["request_headers"]["authorization"] == "Bearer …"
    assert attempt["request_headers"]["webhook-signature"] == "…"
    assert attempt["response_headers"]["x-request-id"] == "req-42"
    assert attempt["response_headers"]["content-type"] == "text/plain"
    assert attempt["response_headers"]["set-cookie"] == "…"
    assert attempt["response_body"] == '{"queued": true}'
    one = await client.get(f"/api/v1/webhook-deliveries/{delivery['id']}", headers=admin.headers)
    assert one.json()["attempts"] == delivery["attempts"]
    assert "cookie-secret" not in one.text
    assert GATEWAY_TOKEN not in one.text


async def test_timeout_has_no_response(
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
    receiver.script(Reply(delay=ctx.settings.webhook_timeout_seconds * 4))
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    [attempt] = delivery["attempts"]
    assert attempt["error"].startswith("timed out")
    assert attempt["request_body"] == request.body.decode()
    assert attempt["response_headers"] is None
    assert attempt["response_body"] is None


async def test_failed_template_has_no_body(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    # The sample ticket has no site address, so the check on save passes.
    subscription = await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.created"],
        payload_template='{"n": {{ (data.site_address or 0) + 1 }}}',
    )
    await submit_request(client, contact_method="site_visit", site_address="12 Marina Road")

    await run_delivery_jobs(db, ctx, outbound)

    assert receiver.requests == []
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    [attempt] = delivery["attempts"]
    assert attempt["request_body"] is None
    assert attempt["request_body_bytes"] is None
    assert attempt["response_headers"] is None


async def test_long_body_stored_cut(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    padding = REQUEST_BODY_LOG_BYTES * 2
    subscription = await create_subscription(
        client,
        admin.headers,
        url=receiver.url,
        event_types=["ticket.created"],
        payload_template=f'{{"pad": {{{{ ("é" * {padding}) | tojson }}}}}}',
    )
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    [attempt] = delivery["attempts"]
    assert attempt["request_body_bytes"] == len(request.body)
    assert request.body.decode().startswith(attempt["request_body"])
    assert len(attempt["request_body"].encode()) <= REQUEST_BODY_LOG_BYTES
    assert len(attempt["request_body"].encode()) >= REQUEST_BODY_LOG_BYTES - 3


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, None),
        (b"", ""),
        (b'{"a": 1}', '{"a": 1}'),
        # "é" is two bytes; the cut falls after the first byte of the last one kept.
        (
            b"x" + "é".encode() * REQUEST_BODY_LOG_BYTES,
            "x" + "é" * (REQUEST_BODY_LOG_BYTES // 2 - 1),
        ),
    ],
)
def test_request_body_log_cut(body: bytes | None, expected: str | None) -> None:
    assert request_body_log(body) == expected


def attempt_columns(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as connection:
        return {row[1] for row in connection.execute("PRAGMA table_info(webhook_attempts)")}


def test_migration_adds_and_drops_columns(tmp_path: Path) -> None:
    path = tmp_path / "opsdesk.db"
    url = f"sqlite+aiosqlite:///{path}"
    added = {"request_body", "request_body_bytes", "response_headers"}

    migrate(url)
    assert added <= attempt_columns(path)
    command.downgrade(alembic_config(url), "0007")
    assert added.isdisjoint(attempt_columns(path))
    command.upgrade(alembic_config(url), "head")
    assert added <= attempt_columns(path)
