"""Options of `opsdesk serve` and `opsdesk worker` for running several processes."""

from __future__ import annotations

import asyncio
import subprocess
import time
from pathlib import Path

import httpx
from process_support import FAST_WORKSPACE, OPSDESK, environment, free_port, start, stop
from prometheus_client.parser import text_string_to_metric_families

from opsdesk.clock import SystemClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.settings import Settings
from opsdesk.tickets import service as tickets
from opsdesk.workspace import load_workspace


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
    ctx = Context(
        workspace=load_workspace(FAST_WORKSPACE),
        clock=SystemClock(),
        settings=Settings(database_url=postgres_url),
    )
    try:
        async with postgres_db.transaction() as session:
            await tickets.create_ticket(
                session,
                ctx,
                tickets.NewTicket(
                    name="Customer",
                    email="customer@example.com",
                    phone=None,
                    service_type="repair",
                    contact_method="email",
                    priority="normal",
                    subject="Breaches in two seconds",
                    description="Counted by the worker that fires it.",
                ),
                channel="api",
            )
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
