"""A worker that dies or stalls mid-delivery leaves the delivery for another worker."""

from __future__ import annotations

import asyncio
import signal
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select, update
from webhook_receiver import (
    Receiver,
    Reply,
    create_subscription,
    list_deliveries,
    run_delivery_jobs,
    start_worker,
    stop_worker,
    submit_request,
)

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.webhooks.jobs import (
    AttemptResult,
    claim_deliveries,
    deliver_due,
    dispatch_outbox,
    next_delivery_at,
    record_attempt,
)
from opsdesk.webhooks.models import WebhookDelivery, WebhookSubscription


def late_result(at: datetime, status_code: int) -> AttemptResult:
    return AttemptResult(
        started_at=at,
        duration_ms=1.0,
        request_headers={"webhook-signature": "…"},
        status_code=status_code,
        response_body="",
        error=None,
        retry_after=None,
    )


async def test_expired_lease_goes_to_other_worker(
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
    await submit_request(client)
    await dispatch_outbox(db, ctx)

    # Worker A claims the delivery and dies before sending or recording anything.
    [claimed] = await claim_deliveries(db, ctx, owner="worker-a", limit=10)
    assert await deliver_due(db, ctx, outbound, owner="worker-b") == 0
    clock.advance(timedelta(seconds=ctx.settings.webhook_lease_seconds - 1))
    assert await deliver_due(db, ctx, outbound, owner="worker-b") == 0
    clock.advance(timedelta(seconds=1))
    assert await deliver_due(db, ctx, outbound, owner="worker-b") == 1

    [request] = receiver.requests
    assert request.headers["webhook-id"] == claimed.event_id
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_count"] == 1

    # Worker A comes back (a paused process, not a dead one) and records a failure.
    outcome = await record_attempt(
        db, ctx, claimed, late_result(clock.now(), 500), owner="worker-a"
    )
    assert outcome == "lease_expired"
    [after] = await list_deliveries(client, admin.headers, subscription["id"])
    assert after["status"] == "succeeded"
    assert after["attempt_count"] == 1
    assert after["last_status_code"] == 200
    assert after["completed_at"] == delivery["completed_at"]
    assert [a["outcome"] for a in after["attempts"]] == ["succeeded", "lease_expired"]
    assert len(receiver.requests) == 1


async def test_late_record_keeps_new_lease(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    """A's late record must not end B's lease while B is still sending."""
    admin = await make_user("admin")
    await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    await submit_request(client)
    await dispatch_outbox(db, ctx)
    [claimed_a] = await claim_deliveries(db, ctx, owner="worker-a", limit=10)
    clock.advance(timedelta(seconds=ctx.settings.webhook_lease_seconds))
    [claimed_b] = await claim_deliveries(db, ctx, owner="worker-b", limit=10)
    assert claimed_b.id == claimed_a.id

    await record_attempt(db, ctx, claimed_a, late_result(clock.now(), 200), owner="worker-a")

    async with db.read() as session:
        delivery = await session.get(WebhookDelivery, claimed_b.id)
    assert delivery is not None
    assert delivery.status == "pending"
    assert delivery.lease_owner == "worker-b"
    assert delivery.attempt_count == 0
    # No third worker can take it while B's lease runs.
    assert await claim_deliveries(db, ctx, owner="worker-c", limit=10) == []


async def test_record_after_subscription_deleted(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    await submit_request(client)
    await dispatch_outbox(db, ctx)
    [claimed] = await claim_deliveries(db, ctx, owner="worker-a", limit=10)

    deleted = await client.delete(
        f"/api/v1/webhook-subscriptions/{subscription['id']}", headers=admin.headers
    )
    assert deleted.status_code == 204
    outcome = await record_attempt(
        db, ctx, claimed, late_result(clock.now(), 200), owner="worker-a"
    )

    assert outcome == "deleted"
    async with db.read() as session:
        assert await session.get(WebhookDelivery, claimed.id) is None


async def test_inactive_subscription_holds_deliveries(
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
    await submit_request(client)
    await dispatch_outbox(db, ctx)
    async with db.transaction() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.public_id == subscription["id"])
            .values(active=False, url="")
        )

    assert await run_delivery_jobs(db, ctx, outbound) == 0
    # Waiting deliveries must not count as due, or the worker loop would spin without sleeping.
    assert await next_delivery_at(db) is None
    assert receiver.requests == []

    async with db.transaction() as session:
        await session.execute(
            update(WebhookSubscription)
            .where(WebhookSubscription.public_id == subscription["id"])
            .values(active=True, url=receiver.url)
        )
    assert await next_delivery_at(db) == clock.now()
    assert await run_delivery_jobs(db, ctx, outbound) == 1
    assert len(receiver.requests) == 1


async def test_claim_batch_fits_concurrency(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    """Deliveries waiting for a free slot would use up their lease before being sent."""
    admin = await make_user("admin")
    await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    for _ in range(5):
        await submit_request(client)
    await dispatch_outbox(db, ctx)
    release = asyncio.Event()
    receiver.script(*[Reply(200, release=release)] * 5)
    # Replies wait for the test, so the attempt timeout must not end them first.
    patient = replace(ctx, settings=ctx.settings.model_copy(update={"webhook_timeout_seconds": 30}))

    sending = asyncio.create_task(
        deliver_due(db, patient, outbound, owner="worker-a", limit=50, concurrency=2)
    )
    try:
        async with asyncio.timeout(10):
            await receiver.wait_for_requests(2)
        async with db.read() as session:
            leased = (
                await session.execute(
                    select(WebhookDelivery.id).where(WebhookDelivery.lease_owner.is_not(None))
                )
            ).all()
        assert len(leased) == 2
        assert len(receiver.requests) == 2
        release.set()
        async with asyncio.timeout(10):
            assert await sending == 5
    finally:
        release.set()
        sending.cancel()
    assert len(receiver.requests) == 5


async def test_lease_counts_from_clock(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
) -> None:
    admin = await make_user("admin")
    await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    await submit_request(client)
    await dispatch_outbox(db, ctx)
    await claim_deliveries(db, ctx, owner="worker-a", limit=10)

    due = await next_delivery_at(db)

    assert due == clock.now() + timedelta(seconds=ctx.settings.webhook_lease_seconds)
    assert due is not None
    assert due.tzinfo == UTC


async def read_delivery(db: Database) -> WebhookDelivery:
    async with db.read() as session:
        delivery: WebhookDelivery | None = await session.scalar(select(WebhookDelivery))
    assert delivery is not None
    return delivery


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_killed_worker_process_redelivers(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    database_url: str,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    receiver.script(Reply(200, delay=120))  # the first request stalls until the test ends
    await submit_request(client)
    logs = [tmp_path / "worker-a.log", tmp_path / "worker-b.log"]
    workers: list[asyncio.subprocess.Process] = []
    try:
        workers.append(await start_worker(database_url, logs[0]))
        async with asyncio.timeout(30):
            await receiver.wait_for_requests(1)
        workers[0].kill()  # SIGKILL, as `kill -9`
        async with asyncio.timeout(10):
            await workers[0].wait()
        assert workers[0].returncode == -signal.SIGKILL

        # The worker died holding the lease, before it could record anything.
        orphaned = await read_delivery(db)
        assert orphaned.status == "pending"
        assert orphaned.attempt_count == 0
        assert orphaned.lease_owner is not None
        assert orphaned.lease_owner.endswith(f":{workers[0].pid}")

        workers.append(await start_worker(database_url, logs[1]))
        async with asyncio.timeout(30):
            await receiver.wait_for_requests(2)
        delivery = await read_delivery(db)
        async with asyncio.timeout(15):
            while delivery.status == "pending":
                await asyncio.sleep(0.1)
                delivery = await read_delivery(db)
    finally:
        for worker in workers:
            await stop_worker(worker)
    output = "\n".join(log.read_text(errors="replace") for log in logs)

    first, second = receiver.requests[:2]
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert len(receiver.requests) == 2, output
    assert delivery.status == "succeeded", output
    assert delivery.attempt_count == 1
    [listed] = await list_deliveries(client, admin.headers, subscription["id"])
    assert listed["event_id"] == second.headers["webhook-id"]
    [attempt] = listed["attempts"]
    assert attempt["outcome"] == "succeeded"
    assert attempt["status_code"] == 200
    assert workers[0].pid != workers[1].pid
