"""PostgreSQL restarted under steady intake: 503 with Retry-After while down, nothing lost.

The test runs a PostgreSQL server of its own, so stopping it disturbs nothing else.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest
from process_support import (
    OPSDESK,
    environment,
    free_port,
    postgres_bindir,
    private_postgres,
    request_body,
    start,
    stop,
    wait_ready,
)
from sqlalchemy import func, select

from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.references import format_reference
from opsdesk.web.errors import DATABASE_RETRY_AFTER_SECONDS

LOAD_SECONDS = 30.0
DOWN_AFTER_SECONDS = 8.0
DOWN_FOR_SECONDS = 6.0
TICKETS_PER_SECOND = 5.0

DESCRIPTION = "Sent while the database restarts."

pytestmark = pytest.mark.skipif(
    postgres_bindir() is None and not os.environ.get("OPSDESK_REQUIRE_POSTGRES"),
    reason="PostgreSQL server binaries are not installed under /usr/lib/postgresql",
)


async def test_database_restart_loses_nothing(
    tmp_path: Path,
) -> None:
    answers: Counter[int] = Counter()
    retry_after: set[str | None] = set()
    acknowledged: dict[str, str] = {}

    async def one(http: httpx.AsyncClient, number: int) -> None:
        key = uuid.uuid4().hex
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = await http.post(
                "/api/v1/requests",
                json=request_body(number, DESCRIPTION),
                headers={"Idempotency-Key": key},
            )
            answers[response.status_code] += 1
            if response.status_code == 201:
                acknowledged[key] = response.json()["reference"]
                return
            if response.status_code == 503:
                retry_after.add(response.headers.get("Retry-After"))
            await asyncio.sleep(0.5)
        raise AssertionError(f"request {number} was never acknowledged")

    with private_postgres() as server:
        migrated = await asyncio.to_thread(
            subprocess.run,
            [str(OPSDESK), "migrate", "--database", server.url],
            env=environment(server.url),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrated.returncode == 0, migrated.stderr
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        env = environment(server.url, OPSDESK_BASE_URL=base_url)
        api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
        api = start(["serve", "--no-worker", "--workers", "2", "--port", str(port)], env, api_log)
        worker = start(["worker"], env, worker_log)
        try:
            await asyncio.to_thread(wait_ready, base_url, api, api_log, within=60)
            async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
                started = time.monotonic()
                pending = []
                restarted = False
                number = 0
                while time.monotonic() - started < LOAD_SECONDS:
                    pending.append(asyncio.create_task(one(http, number)))
                    number += 1
                    if not restarted and time.monotonic() - started > DOWN_AFTER_SECONDS:
                        restarted = True
                        await asyncio.to_thread(server.stop)
                        down = await http.get("/readyz")
                        await asyncio.sleep(DOWN_FOR_SECONDS)
                        await asyncio.to_thread(server.start)
                    await asyncio.sleep(1 / TICKETS_PER_SECOND)
                await asyncio.gather(*pending)
                ready = await http.get("/readyz")
            db = Database(server.url)
            try:
                deadline = time.monotonic() + 60
                while True:
                    async with db.read() as session:
                        ticket_ids = (await session.execute(select(Ticket.id))).scalars().all()
                        escalated = await session.scalar(
                            select(func.count()).select_from(EscalationFiring)
                        )
                    if escalated == len(acknowledged) or time.monotonic() > deadline:
                        break
                    await asyncio.sleep(1)
            finally:
                await db.dispose()
            assert api.poll() is None, api_log.read_text()[-5000:]
            assert worker.poll() is None, worker_log.read_text()[-5000:]
        finally:
            worker_code, api_code = stop(worker), stop(api)

    # While the database was down the API returned 503 with a time to retry after.
    assert down.status_code == 503
    assert answers[503] >= 1
    assert retry_after == {str(DATABASE_RETRY_AFTER_SECONDS)}
    assert set(answers) <= {201, 503}, answers
    # It recovered without a restart, and each acknowledged request is stored exactly once.
    assert ready.status_code == 200
    assert len(acknowledged) == number
    references = sorted(format_reference("SR", ticket_id) for ticket_id in ticket_ids)
    assert references == sorted(acknowledged.values())
    # The worker carried on too: every ticket's first response breached and escalated once.
    assert escalated == len(acknowledged)
    assert (worker_code, api_code) == (0, 0), worker_log.read_text()[-5000:]
    # Both API processes log in Opsdesk's format, each from its own start.
    started = re.findall(
        r" INFO uvicorn\.error Started server process \[\d+\]", api_log.read_text()
    )
    assert len(started) == 2, api_log.read_text()[-5000:]
