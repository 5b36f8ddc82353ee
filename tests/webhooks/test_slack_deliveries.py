"""Subscriptions of kind slack get unsigned Slack incoming-webhook bodies."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx
from webhook_receiver import (
    Receiver,
    create_subscription,
    list_deliveries,
    run_delivery_jobs,
    submit_request,
)

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.notifications.slack import slack_message
from opsdesk.sla.jobs import fire_due_clocks


async def test_slack_ticket_created_and_breach(
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
        client,
        admin.headers,
        url=receiver.url,
        kind="slack",
        event_types=["ticket.created", "sla.breached"],
    )
    assert subscription["secret"] is None
    created = await submit_request(client)
    reference = created["reference"]

    await run_delivery_jobs(db, ctx, outbound)
    clock.set(datetime.fromisoformat(created["first_response_due"]) + timedelta(minutes=1))
    assert await fire_due_clocks(db, ctx) >= 1
    await run_delivery_jobs(db, ctx, outbound)

    assert len(receiver.requests) == 2
    created_request, breach_request = receiver.requests
    for request in receiver.requests:
        assert request.headers["content-type"] == "application/json"
        assert "webhook-signature" not in request.headers
        assert "webhook-id" not in request.headers
    created_body = json.loads(created_request.body)
    breach_body = json.loads(breach_request.body)
    assert set(created_body) == {"text"}
    assert set(breach_body) == {"text"}
    link = f"<http://testserver/tickets/{reference}|{reference}>"
    assert created_body["text"].startswith(f":inbox_tray: New request {link}: ")
    assert "Inverter beeps and shuts down" in created_body["text"]
    assert "priority high" in created_body["text"]
    assert breach_body["text"].startswith(f":rotating_light: SLA breached on {link}: ")
    assert "first response was due" in breach_body["text"]

    deliveries = await list_deliveries(client, admin.headers, subscription["id"])
    assert sorted(d["event_type"] for d in deliveries) == ["sla.breached", "ticket.created"]
    assert {d["status"] for d in deliveries} == {"succeeded"}


async def test_slack_escapes_user_text(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    """A customer's subject must not ping the channel or smuggle in a link."""
    admin = await make_user("admin")
    await create_subscription(
        client, admin.headers, url=receiver.url, kind="slack", event_types=["ticket.created"]
    )
    await submit_request(client, subject="<!channel> urgent & <https://example.com|click>")

    await run_delivery_jobs(db, ctx, outbound)

    [request] = receiver.requests
    text = json.loads(request.body)["text"]
    assert "<!channel>" not in text
    assert "<https://example.com" not in text
    assert "&lt;!channel&gt; urgent &amp; &lt;https://example.com|click&gt;" in text


def test_slack_message_without_metric() -> None:
    message = slack_message("sla.warning", {"reference": "SR-000001", "metric": None}, base_url="")

    assert message["text"].startswith(":warning: SLA warning on <")
