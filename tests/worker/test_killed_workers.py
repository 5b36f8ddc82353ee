"""Workers killed with SIGKILL every few seconds, under steady intake and a flaky receiver.

For two minutes tickets arrive at a steady rate through two API processes, a webhook
receiver returns 500 or stalls at random, and one of two `opsdesk worker` processes is
killed with SIGKILL every few seconds and replaced. Afterwards every acknowledged request
exists exactly once, every event reached the receiver under one stable webhook id, and
every breach was fired and escalated exactly once.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
from process_support import (
    FlakyReceiver,
    environment,
    free_port,
    request_body,
    serve_receiver,
    start,
    stop,
    wait_ready,
)
from sqlalchemy import func, select

from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.sla.models import SlaClock
from opsdesk.tickets.models import Ticket, TimelineEntry
from opsdesk.tickets.references import format_reference
from opsdesk.users import service as users
from opsdesk.webhooks.models import WebhookDelivery

CHAOS_SECONDS = 120.0
TICKETS_PER_SECOND = 3.0
KILL_EVERY_SECONDS = 4.0
DRAIN_SECONDS = 150.0
"""After the chaos: time for the last retries (backoff up to 40 s) and breaches to finish."""

DESCRIPTION = "The first response breaches two seconds after the ticket opens."
EVENT_TYPES = ["ticket.created", "sla.breached", "escalation.triggered"]


async def admin_token(db: Database) -> str:
    async with db.transaction() as session:
        now = (await session.execute(select(func.now()))).scalar_one()
        admin = await users.create_user(
            session,
            email="admin@example.com",
            name="Admin",
            role="admin",
            teams=[],
            known_teams=[],
            at=now,
        )
        return users.issue_token(session, user=admin, name="chaos", at=now).secret


async def submit_steadily(
    http: httpx.AsyncClient, until: float, acknowledged: dict[str, str]
) -> None:
    """Post tickets at a steady rate, and retry each with its Idempotency-Key until 201."""

    async def one(number: int) -> None:
        key = uuid.uuid4().hex
        for _ in range(60):
            try:
                response = await http.post(
                    "/api/v1/requests",
                    json=request_body(number, DESCRIPTION),
                    headers={"Idempotency-Key": key},
                )
            except httpx.TransportError:
                await asyncio.sleep(0.5)
                continue
            if response.status_code == 201:
                acknowledged[key] = response.json()["reference"]
                return
            assert response.status_code in {429, 503}, response.text
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
        raise AssertionError(f"request {number} was never acknowledged")

    pending: list[asyncio.Task[None]] = []
    number = 0
    while time.monotonic() < until:
        pending.append(asyncio.create_task(one(number)))
        number += 1
        await asyncio.sleep(1 / TICKETS_PER_SECOND)
    await asyncio.gather(*pending)


async def kill_workers(
    workers: list[subprocess.Popen[bytes]],
    env: dict[str, str],
    log: Path,
    until: float,
) -> int:
    """SIGKILL one worker every few seconds, start another, and return the number killed."""
    chooser = random.Random(11)
    killed = 0
    while time.monotonic() < until:
        await asyncio.sleep(KILL_EVERY_SECONDS)
        victim = workers.pop(chooser.randrange(len(workers)))
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait()
        killed += 1
        workers.append(start(["worker"], env, log))
    return killed


async def settled(db: Database, tickets: int) -> bool:
    """Return whether every first response breached and escalated with no delivery pending."""
    async with db.read() as session:
        breached = await session.scalar(
            select(func.count())
            .select_from(SlaClock)
            .where(SlaClock.metric == "first_response", SlaClock.breached_at.is_not(None))
        )
        escalated = await session.scalar(select(func.count()).select_from(EscalationFiring))
        pending = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.status == "pending")
        )
    return breached == tickets and escalated == tickets and pending == 0


async def test_killed_workers_lose_nothing(
    postgres_url: str, postgres_db: Database, tmp_path: Path
) -> None:
    db = postgres_db
    token = await admin_token(db)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = environment(
        postgres_url,
        OPSDESK_BASE_URL=base_url,
        OPSDESK_WEBHOOK_TIMEOUT_SECONDS="1",
        OPSDESK_WEBHOOK_LEASE_SECONDS="3",
    )
    api_log, worker_log = tmp_path / "api.log", tmp_path / "workers.log"
    receiver = FlakyReceiver(fail_rate=0.10, stall_rate=0.05, stall_seconds=2.0)
    acknowledged: dict[str, str] = {}
    with serve_receiver(receiver):
        api = start(["serve", "--no-worker", "--workers", "2", "--port", str(port)], env, api_log)
        workers: list[subprocess.Popen[bytes]] = []
        try:
            await asyncio.to_thread(wait_ready, base_url, api, api_log, within=60)
            async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
                created = await http.post(
                    "/api/v1/webhook-subscriptions",
                    json={"url": receiver.url, "event_types": EVENT_TYPES},
                    headers={"Authorization": f"Bearer {token}"},
                )
                assert created.status_code == 201, created.text
                workers.extend(start(["worker"], env, worker_log) for _ in range(2))
                until = time.monotonic() + CHAOS_SECONDS
                _, killed = await asyncio.gather(
                    submit_steadily(http, until, acknowledged),
                    kill_workers(workers, env, worker_log, until),
                )
            receiver.flaky = False
            deadline = time.monotonic() + DRAIN_SECONDS
            while not await settled(db, len(acknowledged)):
                assert time.monotonic() < deadline, "work still pending after the drain period"
                await asyncio.sleep(1)
            for worker in workers:
                assert worker.poll() is None, worker_log.read_text()[-5000:]
        finally:
            codes = [stop(worker) for worker in workers]
            api_code = stop(api)
    assert codes == [0] * len(workers), worker_log.read_text()[-5000:]
    assert api_code == 0, api_log.read_text()[-5000:]
    assert killed >= CHAOS_SECONDS / KILL_EVERY_SECONDS - 2

    async with db.read() as session:
        ticket_ids = (await session.execute(select(Ticket.id))).scalars().all()
        events = (
            await session.execute(
                select(OutboxEvent.event_id, OutboxEvent.type).where(
                    OutboxEvent.type.in_(EVENT_TYPES)
                )
            )
        ).all()
        per_clock = (
            await session.execute(
                select(TimelineEntry.kind, func.count())
                .where(TimelineEntry.kind.in_(["sla.breached", "escalation.triggered"]))
                .group_by(TimelineEntry.kind, TimelineEntry.clock_id)
            )
        ).all()
        raised = (
            (
                await session.execute(
                    select(func.count())
                    .select_from(TimelineEntry)
                    .where(TimelineEntry.kind == "ticket.priority_changed")
                    .group_by(TimelineEntry.ticket_id)
                )
            )
            .scalars()
            .all()
        )
        delivery_states = dict(
            (
                await session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                )
            ).all()
        )

    # Every acknowledged request exists exactly once, and nothing else was created.
    assert len(acknowledged) >= CHAOS_SECONDS * TICKETS_PER_SECOND * 0.9
    references = [format_reference("SR", ticket_id) for ticket_id in ticket_ids]
    assert sorted(references) == sorted(acknowledged.values())

    # Every event reached the receiver, each under one webhook id on every attempt.
    tickets = len(acknowledged)
    kinds = [kind for _, kind in events]
    assert kinds.count("ticket.created") == tickets
    assert kinds.count("sla.breached") == tickets
    assert kinds.count("escalation.triggered") == tickets
    delivered = receiver.delivered()
    assert {event_id for event_id, _ in events} <= delivered.keys()
    ids_per_event: dict[str, set[str]] = {}
    for item in receiver.received:
        ids_per_event.setdefault(item.event_id, set()).add(item.webhook_id)
    assert all(len(ids) == 1 for ids in ids_per_event.values())
    assert delivery_states == {"succeeded": len(events)}

    # Every breach fired once and escalated once: one timeline entry of each per clock,
    # and one priority raise per ticket.
    assert sorted(kind for kind, _ in per_clock) == (
        ["escalation.triggered"] * tickets + ["sla.breached"] * tickets
    )
    assert all(count == 1 for _, count in per_clock)
    assert raised == [1] * tickets
