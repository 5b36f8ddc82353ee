"""Manual redelivery through the API: a new recorded attempt with the same webhook-id."""

from __future__ import annotations

import httpx
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
from opsdesk.webhooks.jobs import claim_deliveries, dispatch_outbox

SUBSCRIPTIONS = "/api/v1/webhook-subscriptions"


async def test_redeliver_failed_delivery(
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
    receiver.script(Reply(404, body=b"no such hook"))
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    [failed] = await list_deliveries(client, admin.headers, subscription["id"])
    assert failed["status"] == "failed"

    response = await client.post(
        f"/api/v1/webhook-deliveries/{failed['id']}/redeliver", headers=admin.headers
    )

    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["status"] == "pending"
    assert queued["next_attempt_at"] is not None
    assert await run_delivery_jobs(db, ctx, outbound) == 1
    first, second = receiver.requests
    assert second.headers["webhook-id"] == first.headers["webhook-id"]
    assert second.body == first.body
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["status"] == "succeeded"
    assert [a["number"] for a in delivery["attempts"]] == [1, 2]
    assert [a["status_code"] for a in delivery["attempts"]] == [404, 200]
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed", "succeeded"]


async def test_redeliver_succeeded_delivery(
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
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    [delivered] = await list_deliveries(client, admin.headers, subscription["id"])

    response = await client.post(
        f"/api/v1/webhook-deliveries/{delivered['id']}/redeliver", headers=admin.headers
    )
    await run_delivery_jobs(db, ctx, outbound)

    assert response.status_code == 202
    assert len(receiver.requests) == 2
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["attempt_count"] == 2


async def test_redeliver_refused_while_paused(
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
    await submit_request(client)
    await run_delivery_jobs(db, ctx, outbound)
    [delivered] = await list_deliveries(client, admin.headers, subscription["id"])
    paused = await client.patch(
        f"{SUBSCRIPTIONS}/{subscription['id']}", json={"active": False}, headers=admin.headers
    )
    assert paused.status_code == 200
    assert paused.json()["disabled_reason"] == "paused by an admin"

    response = await client.post(
        f"/api/v1/webhook-deliveries/{delivered['id']}/redeliver", headers=admin.headers
    )

    assert response.status_code == 409
    assert "inactive" in response.json()["error"]["message"]


async def test_redeliver_refused_in_flight(
    client: httpx.AsyncClient, make_user, db: Database, ctx: Context, receiver: Receiver
) -> None:
    admin = await make_user("admin")
    await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    await submit_request(client)
    await dispatch_outbox(db, ctx)
    [claimed] = await claim_deliveries(db, ctx, owner="worker-a", limit=1)

    response = await client.post(
        f"/api/v1/webhook-deliveries/{claimed.public_id}/redeliver", headers=admin.headers
    )

    assert response.status_code == 409
    assert "being sent right now" in response.json()["error"]["message"]


async def test_redeliver_requires_admin(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    agent = await make_user("agent")

    missing = await client.post(
        "/api/v1/webhook-deliveries/dlv_missing/redeliver", headers=admin.headers
    )
    refused = await client.post(
        "/api/v1/webhook-deliveries/dlv_missing/redeliver", headers=agent.headers
    )

    assert missing.status_code == 404
    assert refused.status_code == 403
