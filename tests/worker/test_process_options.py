"""Options of `opsdesk serve` and `opsdesk worker` for running several processes."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import httpx
from process_support import (
    FAST_WORKSPACE,
    OPSDESK,
    FlakyReceiver,
    environment,
    free_port,
    serve_receiver,
    start,
    stop,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select

from opsdesk.clock import SystemClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.settings import Settings
from opsdesk.tickets import service as tickets
from opsdesk.webhooks import service as webhooks
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery
from opsdesk.workspace import load_workspace

NEW_TICKET = tickets.NewTicket(
    name="Customer",
    email="customer@example.com",
    phone=None,
    service_type="repair",
    contact_method="email",
    priority="normal",
    subject="Breaches in two seconds",
    description="A round-the-clock workspace with a two-second first response.",
)


def fast_context(database_url: str) -> Context:
    return Context(
        workspace=load_workspace(FAST_WORKSPACE),
        clock=SystemClock(),
        settings=Settings(database_url=database_url),
    )


def test_several_api_processes_need_postgresql(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(OPSDESK), "serve", "--workers", "2", "--port", str(free_port())],
        env=environment(f"sqlite+aiosqlite:///{tmp_path}/opsdesk.db"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--workers above 1 needs PostgreSQL" in result.stderr


def breaches_counted(page: str) -> float:
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == "opsdesk_sla_firings_total" and sample.labels == {"kind": "breach"}:
                return sample.value
    return 0.0


async def test_worker_serves_its_metrics_on_the_metrics_port(
    postgres_url: str, postgres_db: Database, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "worker.log"
    worker = start(["worker", "--metrics-port", str(port)], environment(postgres_url), log)
    ctx = fast_context(postgres_url)
    try:
        async with postgres_db.transaction() as session:
            await tickets.create_ticket(session, ctx, NEW_TICKET, channel="api")
        counted = 0.0
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient() as http:
            while counted < 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                try:
                    page = await http.get(f"http://127.0.0.1:{port}/metrics")
                except httpx.TransportError:
                    assert worker.poll() is None, log.read_text()
                    continue
                counted = breaches_counted(page.text)
    finally:
        code = stop(worker)

    assert counted == 1, log.read_text()
    assert code == 0, log.read_text()


async def test_sigterm_finishes_delivery_in_flight(
    postgres_url: str, postgres_db: Database, tmp_path: Path
) -> None:
    ctx = fast_context(postgres_url)
    log = tmp_path / "worker.log"
    # Every response takes two seconds, so the delivery is still in flight at SIGTERM.
    receiver = FlakyReceiver(fail_rate=0.0, stall_rate=1.0, stall_seconds=2.0)
    with serve_receiver(receiver):
        async with postgres_db.transaction() as session:
            await webhooks.create_subscription(
                session,
                url=receiver.url,
                event_types=["ticket.created"],
                kind="webhook",
                secret=None,
                description=None,
                at=ctx.clock.now(),
            )
        worker = start(["worker"], environment(postgres_url), log)
        try:
            async with postgres_db.transaction() as session:
                await tickets.create_ticket(session, ctx, NEW_TICKET, channel="api")
            deadline = time.monotonic() + 60
            while not receiver.requests_started and time.monotonic() < deadline:
                assert worker.poll() is None, log.read_text()
                await asyncio.sleep(0.05)
            assert receiver.requests_started, log.read_text()
            worker.send_signal(signal.SIGTERM)
            code = await asyncio.to_thread(worker.wait, 30)
        finally:
            stop(worker)

    assert code == 0, log.read_text()
    async with postgres_db.read() as session:
        delivery = (await session.execute(select(WebhookDelivery))).scalar_one()
        attempts = (await session.execute(select(WebhookAttempt))).scalars().all()
    assert (delivery.status, delivery.lease_owner) == ("succeeded", None)
    assert [attempt.outcome for attempt in attempts] == ["succeeded"]
