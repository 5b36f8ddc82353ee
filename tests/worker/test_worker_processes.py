"""Several `opsdesk worker` processes on one PostgreSQL database fire each breach once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from opsdesk.clock import SystemClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.settings import Settings
from opsdesk.sla.models import SlaClock
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import TimelineEntry
from opsdesk.workspace import load_workspace

FAST_WORKSPACE = Path(__file__).resolve().parent.parent / "fixtures" / "fast-clocks.yaml"
OPSDESK = Path(sys.executable).parent / "opsdesk"
TICKETS = 12


def start_worker(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    environment = os.environ | {
        "OPSDESK_DATABASE_URL": database_url,
        "OPSDESK_WORKSPACE": str(FAST_WORKSPACE),
        "OPSDESK_IDLE_WAKEUP_SECONDS": "30",
    }
    with log.open("wb") as output:
        return subprocess.Popen(
            [str(OPSDESK), "worker"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )


async def test_two_worker_processes_fire_each_breach_once(
    postgres_url: str, postgres_db: Database, tmp_path: Path
) -> None:
    database_url, db = postgres_url, postgres_db
    workspace = load_workspace(FAST_WORKSPACE)
    ctx = Context(
        workspace=workspace, clock=SystemClock(), settings=Settings(database_url=database_url)
    )
    logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
    workers = [start_worker(database_url, log) for log in logs]
    try:
        # Give both workers time to connect and LISTEN before the clocks start.
        await asyncio.sleep(2)
        async with db.transaction() as session:
            for number in range(TICKETS):
                await tickets.create_ticket(
                    session,
                    ctx,
                    tickets.NewTicket(
                        name=f"Customer {number}",
                        email=f"customer{number}@example.com",
                        phone=None,
                        service_type="repair",
                        contact_method="email",
                        priority="normal",
                        subject="Two-second first response",
                        description="Breaches two seconds after creation.",
                    ),
                    channel="api",
                )
        breached = 0
        for _ in range(200):
            async with db.read() as session:
                breached = (
                    await session.execute(
                        select(func.count())
                        .select_from(SlaClock)
                        .where(
                            SlaClock.metric == "first_response", SlaClock.breached_at.is_not(None)
                        )
                    )
                ).scalar_one()
            if breached == TICKETS:
                break
            await asyncio.sleep(0.1)
        # A little longer, so that a second firing would have had time to happen.
        await asyncio.sleep(1)
        for worker, log in zip(workers, logs, strict=True):
            assert worker.poll() is None, log.read_text()
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(timeout=10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    assert breached == TICKETS
    async with db.read() as session:
        breach_entries = (
            await session.execute(
                select(TimelineEntry.clock_id, func.count())
                .where(TimelineEntry.kind == "sla.breached")
                .group_by(TimelineEntry.clock_id)
            )
        ).all()
        firings = (
            await session.execute(
                select(EscalationFiring.clock_id, func.count()).group_by(EscalationFiring.clock_id)
            )
        ).all()
    assert len(breach_entries) == TICKETS
    assert all(entries == 1 for _, entries in breach_entries)
    assert len(firings) == TICKETS
    assert all(levels == 1 for _, levels in firings)
    for worker, log in zip(workers, logs, strict=True):
        assert worker.returncode == 0, log.read_text()
