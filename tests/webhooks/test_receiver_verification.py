"""The receiver code of docs/api.md, run against real deliveries.

`verify_webhook` and `first_delivery` are copies of the snippets in the guide, and a test
checks that the guide still contains them character for character.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import json
import re
import sqlite3
import time
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook, WebhookVerificationError
from webhook_receiver import (
    Receiver,
    Reply,
    advance_to_next_attempt,
    create_subscription,
    run_delivery_jobs,
    submit_request,
)

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database

API_GUIDE = Path(__file__).resolve().parents[2] / "docs" / "api.md"

# --- copied from docs/api.md: start ---
TOLERANCE_SECONDS = 5 * 60


def verify_webhook(secret: str, headers: Mapping[str, str], body: bytes) -> Any:
    """Return the event of a request signed by Opsdesk, or raise ValueError."""
    webhook_id = headers.get("webhook-id", "")
    timestamp = headers.get("webhook-timestamp", "")
    signatures = headers.get("webhook-signature", "")
    if not (webhook_id and timestamp.isdigit() and signatures):
        raise ValueError("missing or invalid webhook headers")
    if abs(time.time() - int(timestamp)) > TOLERANCE_SECONDS:
        raise ValueError("webhook-timestamp is more than 5 minutes away from now")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest())
    for signature in signatures.split():
        version, _, value = signature.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            return json.loads(body)
    raise ValueError("no valid webhook signature")


def first_delivery(connection: sqlite3.Connection, webhook_id: str) -> bool:
    """Remember `webhook_id`; return False if it was handled before."""
    cursor = connection.execute(
        "INSERT INTO handled_webhooks (webhook_id) VALUES (?) ON CONFLICT DO NOTHING",
        (webhook_id,),
    )
    connection.commit()
    return cursor.rowcount == 1


# --- copied from docs/api.md: end ---


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


@pytest.mark.parametrize("function", [verify_webhook, first_delivery])
def test_guide_has_same_code(function: Any) -> None:
    source = inspect.getsource(function)
    blocks = python_blocks(API_GUIDE.read_text())

    assert any(source in block for block in blocks), f"{function.__name__} differs from the guide"


def test_guide_tolerance_matches() -> None:
    assert "TOLERANCE_SECONDS = 5 * 60\n" in API_GUIDE.read_text()


async def test_guide_verifies_real_delivery(
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
    created = await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    [request] = receiver.requests

    event = verify_webhook(subscription["secret"], request.headers, request.body)

    assert event == Webhook(subscription["secret"]).verify(request.body, request.headers)
    assert event["id"] == request.headers["webhook-id"]
    assert event["type"] == "ticket.created"
    assert event["data"]["reference"] == created["reference"]


async def test_guide_rejects_forgeries(
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
    secret = subscription["secret"]
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    [request] = receiver.requests
    headers, body = request.headers, request.body
    other_secret = "whsec_" + base64.b64encode(b"\x01" * 32).decode()

    with pytest.raises(ValueError, match="no valid webhook signature"):
        verify_webhook(other_secret, headers, body)
    with pytest.raises(ValueError, match="no valid webhook signature"):
        verify_webhook(secret, headers, body + b" ")
    with pytest.raises(ValueError, match="no valid webhook signature"):
        verify_webhook(secret, headers | {"webhook-id": "evt_other"}, body)
    with pytest.raises(ValueError, match="no valid webhook signature"):
        verify_webhook(secret, headers | {"webhook-signature": "v1,ü"}, body)
    with pytest.raises(ValueError, match="missing or invalid"):
        verify_webhook(secret, {k: v for k, v in headers.items() if k != "webhook-id"}, body)
    with pytest.raises(ValueError, match="missing or invalid"):
        verify_webhook(secret, headers | {"webhook-timestamp": "soon"}, body)
    # A moved timestamp breaks the signature even when it is still recent.
    moved = str(int(headers["webhook-timestamp"]) + 1)
    with pytest.raises(ValueError, match="no valid webhook signature"):
        verify_webhook(secret, headers | {"webhook-timestamp": moved}, body)
    # The header may list several signatures (a sender rotating secrets); one valid one is enough.
    several = headers | {"webhook-signature": "v1,bm9wZQ== " + headers["webhook-signature"]}
    assert verify_webhook(secret, several, body)["type"] == "ticket.created"


async def test_guide_rejects_replayed_request(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    """A request signed 10 minutes ago, as a replayed capture would be, is rejected."""
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    await submit_request(client)
    clock.advance(timedelta(minutes=-10))
    await run_delivery_jobs(db, ctx, outbound)
    [request] = receiver.requests

    with pytest.raises(ValueError, match="more than 5 minutes"):
        verify_webhook(subscription["secret"], request.headers, request.body)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(subscription["secret"]).verify(request.body, request.headers)


async def test_guide_deduplicates_retries(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    """The receiver handled the first request but answered too late; the retry is a duplicate."""
    admin = await make_user("admin")
    await create_subscription(client, admin.headers, url=receiver.url, event_types=["*"])
    receiver.script(Reply(200, delay=ctx.settings.webhook_timeout_seconds * 4))
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    await advance_to_next_attempt(db, clock)
    await run_delivery_jobs(db, ctx, outbound)
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE handled_webhooks (webhook_id TEXT PRIMARY KEY)")

    handled = [
        request.headers["webhook-id"]
        for request in receiver.requests
        if first_delivery(connection, request.headers["webhook-id"])
    ]

    ids = [request.headers["webhook-id"] for request in receiver.requests]
    assert len(ids) == len(set(ids)) + 1
    assert sorted(handled) == sorted(set(ids))
    connection.close()
