"""Signed delivery to a real local receiver: retries, give-up rules, timeouts and masking."""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
import pytest
from standardwebhooks import Webhook
from webhook_receiver import (
    Receiver,
    Reply,
    advance_to_next_attempt,
    create_subscription,
    list_deliveries,
    next_attempt_at,
    run_delivery_jobs,
    submit_request,
)

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database


async def test_ticket_created_signed_delivery(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    tickets = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    await create_subscription(
        client, admin.headers, url=receiver.url + "/tasks", event_types=["task.created"]
    )
    created = await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    ticket_requests = [r for r in receiver.requests if r.path == "/hooks/opsdesk"]
    task_requests = [r for r in receiver.requests if r.path == "/hooks/opsdesk/tasks"]
    assert len(ticket_requests) == 1
    assert len(task_requests) == 1
    request = ticket_requests[0]
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    payload = Webhook(tickets["secret"]).verify(request.body, request.headers)
    assert payload["type"] == "ticket.created"
    assert payload["id"] == request.headers["webhook-id"]
    assert payload["data"]["reference"] == created["reference"]
    assert payload["data"]["subject"] == "Inverter beeps and shuts down"
    task_payload = json.loads(task_requests[0].body)
    assert task_payload["type"] == "task.created"
    assert task_payload["data"]["ticket"] == created["reference"]


async def test_signature_rejects_other_secret(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    first = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    second = await create_subscription(
        client, admin.headers, url=receiver.url + "/2", event_types=["ticket.created"]
    )
    assert first["secret"] != second["secret"]
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    request = next(r for r in receiver.requests if r.path == "/hooks/opsdesk")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(second["secret"]).verify(request.body, request.headers)
    tampered = request.body.replace(b"Inverter", b"Inventor")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(first["secret"]).verify(tampered, request.headers)


async def test_retries_until_success_same_id(
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
    receiver.script(Reply(500, body=b"down"), Reply(503, body=b"still down"), Reply(200))
    await submit_request(client)

    assert await run_delivery_jobs(db, ctx, outbound) == 1
    # Nothing is due before the backoff has passed.
    assert await run_delivery_jobs(db, ctx, outbound) == 0
    await advance_to_next_attempt(db, clock)
    assert await run_delivery_jobs(db, ctx, outbound) == 1
    await advance_to_next_attempt(db, clock)
    assert await run_delivery_jobs(db, ctx, outbound) == 1

    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert len(receiver.requests) == 3
    assert len(ids) == 1
    bodies = {request.body for request in receiver.requests}
    assert len(bodies) == 1
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["event_id"] == ids.pop()
    assert delivery["status"] == "succeeded"
    assert delivery["attempt_count"] == 3
    assert delivery["next_attempt_at"] is None
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 503, 200]
    assert [a["outcome"] for a in delivery["attempts"]] == ["retry", "retry", "succeeded"]
    assert [a["number"] for a in delivery["attempts"]] == [1, 2, 3]
    assert delivery["attempts"][0]["response_body"] == "down"


async def test_backoff_grows_between_attempts(
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
    receiver.script(*[Reply(500)] * 4)
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)
    for _ in range(3):
        await advance_to_next_attempt(db, clock)
        await run_delivery_jobs(db, ctx, outbound)

    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    started = [datetime.fromisoformat(a["started_at"]) for a in delivery["attempts"]]
    delays = [(later - earlier).total_seconds() for earlier, later in itertools.pairwise(started)]
    # Attempt n waits a random time between half and all of 5 s · 2^(n-1).
    assert 2.5 <= delays[0] <= 5
    assert 5 <= delays[1] <= 10
    assert 10 <= delays[2] <= 20


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_client_error_fails_without_retry(
    status: int,
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
    receiver.script(Reply(status))
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)
    clock.advance(timedelta(days=2))
    assert await run_delivery_jobs(db, ctx, outbound) == 0

    assert len(receiver.requests) == 1
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["status"] == "failed"
    assert delivery["attempt_count"] == 1
    assert delivery["last_status_code"] == status
    assert [a["outcome"] for a in delivery["attempts"]] == ["failed"]


@pytest.mark.parametrize("status", [408, 425, 429, 500, 502, 503, 504])
async def test_retryable_status_is_retried(
    status: int,
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
    receiver.script(Reply(status))
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)
    await advance_to_next_attempt(db, clock)
    await run_delivery_jobs(db, ctx, outbound)

    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert [a["status_code"] for a in delivery["attempts"]] == [status, 200]
    assert delivery["status"] == "succeeded"


async def test_retry_after_delays_next_attempt(
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
    receiver.script(Reply(429, headers={"Retry-After": "120"}))
    await submit_request(client)

    first_at = clock.now()
    await run_delivery_jobs(db, ctx, outbound)
    due = await next_attempt_at(db)
    assert due is not None
    assert due >= first_at + timedelta(seconds=120)

    clock.set(first_at + timedelta(seconds=119))
    assert await run_delivery_jobs(db, ctx, outbound) == 0
    assert len(receiver.requests) == 1

    clock.set(due)
    assert await run_delivery_jobs(db, ctx, outbound) == 1
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert [a["status_code"] for a in delivery["attempts"]] == [429, 200]


async def test_retry_after_http_date(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    admin = await make_user("admin")
    await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    retry_at = clock.now() + timedelta(minutes=10)
    receiver.script(
        Reply(503, headers={"Retry-After": retry_at.strftime("%a, %d %b %Y %H:%M:%S GMT")})
    )
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    due = await next_attempt_at(db)
    assert due is not None
    assert due >= retry_at


async def test_stalled_receiver_times_out_and_retries(
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
    stall = ctx.settings.webhook_timeout_seconds * 10
    receiver.script(Reply(200, delay=stall))
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["status"] == "pending"
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] is None
    assert attempt["outcome"] == "retry"
    assert attempt["error"] == f"timed out after {ctx.settings.webhook_timeout_seconds:g} s"

    await advance_to_next_attempt(db, clock)
    await run_delivery_jobs(db, ctx, outbound)
    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["status"] == "succeeded"
    ids = {request.headers["webhook-id"] for request in receiver.requests}
    assert len(ids) == 1


async def test_slow_body_hits_total_deadline(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    """A receiver that sends its answer a byte at a time never trips httpx's per-read timeout."""
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    interval = ctx.settings.webhook_timeout_seconds / 4
    receiver.script(Reply(200, body=b"x" * 40, byte_interval=interval))
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    [attempt] = delivery["attempts"]
    assert attempt["error"] == f"timed out after {ctx.settings.webhook_timeout_seconds:g} s"
    assert attempt["outcome"] == "retry"


async def test_connection_refused_is_retried(
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
    await receiver.stop()
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)

    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    [attempt] = delivery["attempts"]
    assert attempt["status_code"] is None
    assert attempt["error"].startswith("ConnectError")
    assert attempt["outcome"] == "retry"
    assert delivery["status"] == "pending"


async def test_gives_up_after_retry_span(
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
    span = 120
    short_span = replace(
        ctx, settings=ctx.settings.model_copy(update={"webhook_retry_span_seconds": span})
    )
    receiver.script(*[Reply(500)] * 50)
    await submit_request(client)

    first_at = clock.now()
    await run_delivery_jobs(db, short_span, outbound)
    for _ in range(20):
        if await next_attempt_at(db) is None:
            break
        await advance_to_next_attempt(db, clock)
        await run_delivery_jobs(db, short_span, outbound)

    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    assert delivery["status"] == "failed"
    assert delivery["next_attempt_at"] is None
    outcomes = [a["outcome"] for a in delivery["attempts"]]
    assert outcomes[-1] == "failed"
    assert set(outcomes[:-1]) == {"retry"}
    assert len(outcomes) >= 3
    assert clock.now() - first_at <= timedelta(seconds=span)
    clock.advance(timedelta(days=1))
    sent = len(receiver.requests)
    assert await run_delivery_jobs(db, short_span, outbound) == 0
    assert len(receiver.requests) == sent


async def test_secret_absent_from_attempts_and_logs(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # INFO is what a deployment logs by default; Opsdesk's own loggers are checked at DEBUG.
    # aiosqlite logs every SQL parameter at DEBUG, the secret included, so it stays at INFO.
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="opsdesk")
    admin = await make_user("admin")
    subscription = await create_subscription(
        client, admin.headers, url=receiver.url, event_types=["ticket.created"]
    )
    secret = subscription["secret"]
    key_part = secret.removeprefix("whsec_")
    receiver.script(Reply(500), Reply(200))
    await submit_request(client)

    await run_delivery_jobs(db, ctx, outbound)
    await advance_to_next_attempt(db, clock)
    await run_delivery_jobs(db, ctx, outbound)

    [delivery] = await list_deliveries(client, admin.headers, subscription["id"])
    signatures = {request.headers["webhook-signature"] for request in receiver.requests}
    for attempt in delivery["attempts"]:
        headers = attempt["request_headers"]
        assert headers["webhook-signature"] == "…"
        assert headers["webhook-id"] == delivery["event_id"]
        assert key_part not in json.dumps(headers)
    listed = await client.get("/api/v1/webhook-subscriptions", headers=admin.headers)
    assert key_part not in listed.text
    for signature in signatures:
        assert signature not in listed.text
    assert caplog.records, "expected the delivery jobs to log their attempts"
    for record in caplog.records:
        message = record.getMessage()
        assert key_part not in message
        for signature in signatures:
            assert signature.removeprefix("v1,") not in message
    messages = [record.getMessage() for record in caplog.records]
    assert any("attempt 1: retry (status 500" in message for message in messages)
    assert any("attempt 2: succeeded (status 200" in message for message in messages)
