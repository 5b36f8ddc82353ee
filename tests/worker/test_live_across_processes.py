"""Live console updates reach a browser connected to another API process."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx
from process_support import environment, free_port, start, stop, wait_ready
from sqlalchemy import func, select

from opsdesk.db import Database
from opsdesk.settings import Settings
from opsdesk.users import auth
from opsdesk.users import service as users

PASSWORD = "correct horse battery staple"


async def session_cookie(db: Database) -> str:
    async with db.transaction() as session:
        now = (await session.execute(select(func.now()))).scalar_one()
        supervisor = await users.create_user(
            session,
            email="supervisor@example.com",
            name="Supervisor",
            role="supervisor",
            teams=[],
            known_teams=[],
            at=now,
        )
        await auth.set_password(session, user=supervisor, password=PASSWORD)
        signed_in = await auth.sign_in(
            session, email=supervisor.email, password=PASSWORD, settings=Settings(), at=now
        )
    assert isinstance(signed_in, auth.SignedIn)
    return signed_in.token


async def first_event(response: httpx.Response, event_type: str) -> str:
    async for line in response.aiter_lines():
        if line == f"event: {event_type}":
            return line
    raise AssertionError("the event stream ended")


async def test_live_event_crosses_processes(
    postgres_url: str, postgres_db: Database, tmp_path: Path
) -> None:
    token = await session_cookie(postgres_db)
    ports = [free_port(), free_port()]
    logs = [tmp_path / "api-a.log", tmp_path / "api-b.log"]
    servers = [
        start(
            ["serve", "--no-worker", "--port", str(port)],
            environment(postgres_url, OPSDESK_BASE_URL=f"http://127.0.0.1:{port}"),
            log,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        for port, server, log in zip(ports, servers, logs, strict=True):
            await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}", server, log, within=60)
        async with (
            httpx.AsyncClient(timeout=30) as http,
            http.stream(
                "GET",
                f"http://127.0.0.1:{ports[0]}/console/events",
                cookies={"opsdesk_session": token},
            ) as stream,
        ):
            assert stream.status_code == 200
            created = await http.post(
                f"http://127.0.0.1:{ports[1]}/api/v1/requests",
                json={
                    "name": "Customer",
                    "email": "customer@example.com",
                    "service_type": "repair",
                    "contact_method": "email",
                    "priority": "normal",
                    "subject": "Seen live on the other process",
                    "description": "Created through the second API process.",
                },
            )
            assert created.status_code == 201, created.text
            line = await asyncio.wait_for(first_event(stream, "ticket.created"), 30)
    finally:
        codes = [stop(server) for server in servers]

    assert line == "event: ticket.created"
    # uvicorn finishes its shutdown and then re-raises SIGTERM, so a clean stop of a
    # single-process server ends by that signal.
    assert set(codes) <= {0, -signal.SIGTERM}, [log.read_text()[-3000:] for log in logs]
