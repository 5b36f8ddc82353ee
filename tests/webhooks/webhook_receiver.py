"""A webhook receiver on 127.0.0.1 for the delivery tests.

It is a small HTTP/1.1 server written on asyncio streams, so a test controls
every byte: it records each request's headers and raw body, and replies from a script of
statuses, delays and slowly sent bodies. It serves one request per connection.
"""

from __future__ import annotations

import asyncio
import http
import os
import sys
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.webhooks.jobs import deliver_due, dispatch_outbox
from opsdesk.webhooks.models import WebhookDelivery

MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """One scripted reply of the receiver."""

    status: int = 200
    delay: float = 0.0  # seconds to wait before the status line is sent
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    # When set, the body is sent one byte at a time with this many seconds between bytes.
    byte_interval: float | None = None
    # When set, the reply waits until the test sets this event.
    release: asyncio.Event | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class Receiver:
    """An HTTP server on an ephemeral port of 127.0.0.1 that replies from a script.

    Requests past the end of the script get 200. `stop` cancels replies still waiting.
    """

    def __init__(self) -> None:
        self.requests: list[ReceivedRequest] = []
        self._replies: deque[Reply] = deque()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Condition()

    @property
    def url(self) -> str:
        assert self._server is not None, "start the receiver first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}/hooks/opsdesk"

    def script(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for handler in list(self._handlers):
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def wait_for_requests(self, count: int) -> list[ReceivedRequest]:
        """Return the requests once at least `count` arrived (callers bound the wait)."""
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            request = await _read_request(reader)
            self.requests.append(request)
            reply = self._replies.popleft() if self._replies else Reply()
            async with self._changed:
                self._changed.notify_all()
            if reply.release is not None:
                await reply.release.wait()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await _write_reply(writer, reply)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            # The client went away (a timeout or a killed worker); nothing is left to reply to.
            pass
        finally:
            self._handlers.discard(task)
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> ReceivedRequest:
    head = await reader.readuntil(b"\r\n\r\n")
    if len(head) > MAX_HEADER_BYTES:
        raise ConnectionError("request head too large")
    request_line, *header_lines = head.decode("latin-1").split("\r\n")
    method, path, _version = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return ReceivedRequest(method=method, path=path, headers=headers, body=body)


async def _write_reply(writer: asyncio.StreamWriter, reply: Reply) -> None:
    try:
        phrase = http.HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [
        f"HTTP/1.1 {reply.status} {phrase}",
        "content-type: text/plain",
        f"content-length: {len(reply.body)}",
        "connection: close",
        *(f"{name}: {value}" for name, value in reply.headers.items()),
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    if reply.byte_interval is None:
        writer.write(reply.body)
        await writer.drain()
        return
    for index in range(len(reply.body)):
        writer.write(reply.body[index : index + 1])
        await writer.drain()
        await asyncio.sleep(reply.byte_interval)


REQUEST = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "service_type": "solar_repair",
    "contact_method": "phone_call",
    "priority": "high",
    "subject": "Inverter beeps and shuts down",
    "description": "Since yesterday the inverter shuts down every hour.",
}


async def create_subscription(
    client: httpx.AsyncClient, auth_headers: dict[str, str], /, **body: Any
) -> dict[str, Any]:
    """Create a subscription through the API and return the response body with its secret."""
    response = await client.post("/api/v1/webhook-subscriptions", json=body, headers=auth_headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def submit_request(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """Post a customer request to the public intake endpoint and return its response body."""
    response = await client.post("/api/v1/requests", json=REQUEST | changes)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def list_deliveries(
    client: httpx.AsyncClient, headers: dict[str, str], subscription_id: str
) -> list[dict[str, Any]]:
    response = await client.get(
        f"/api/v1/webhook-subscriptions/{subscription_id}/deliveries", headers=headers
    )
    assert response.status_code == 200, response.text
    deliveries: list[dict[str, Any]] = response.json()["items"]
    return deliveries


async def run_delivery_jobs(
    db: Database, ctx: Context, outbound: httpx.AsyncClient, *, owner: str = "test-worker"
) -> int:
    """Fan out new events, then send every due delivery once; return how many were sent."""
    await dispatch_outbox(db, ctx)
    return await deliver_due(db, ctx, outbound, owner=owner)


async def next_attempt_at(db: Database) -> datetime | None:
    """Return the earliest next_attempt_at of the pending deliveries."""
    async with db.read() as session:
        value: datetime | None = (
            await session.execute(
                select(func.min(WebhookDelivery.next_attempt_at)).where(
                    WebhookDelivery.status == "pending"
                )
            )
        ).scalar_one_or_none()
        return value


async def advance_to_next_attempt(db: Database, clock: FrozenClock) -> None:
    """Move the clock to the instant the next retry is due (never backwards)."""
    due = await next_attempt_at(db)
    assert due is not None, "no pending delivery"
    clock.set(max(due, clock.now()))


EXAMPLE_WORKSPACE = Path(__file__).resolve().parents[2] / "examples" / "technical-services.yaml"
WORKER_LEASE_SECONDS = 3
# Long enough for a test to kill a worker while its request is in flight, and shorter
# than the lease, as settings require.
WORKER_TIMEOUT_SECONDS = 2.5


async def start_worker(database_url: str, log: Path) -> asyncio.subprocess.Process:
    """Start `opsdesk worker` with a short lease, writing its log to `log`."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OPSDESK_") and "proxy" not in name.lower()
    }
    environment |= {
        "OPSDESK_DATABASE_URL": database_url,
        "OPSDESK_WORKSPACE": str(EXAMPLE_WORKSPACE),
        "OPSDESK_WEBHOOK_LEASE_SECONDS": str(WORKER_LEASE_SECONDS),
        "OPSDESK_WEBHOOK_TIMEOUT_SECONDS": str(WORKER_TIMEOUT_SECONDS),
        "OPSDESK_IDLE_WAKEUP_SECONDS": "0.5",
        "OPSDESK_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    }
    with log.open("wb") as output:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "opsdesk",
            "worker",
            env=environment,
            cwd=log.parent,  # away from any .env file of the checkout
            stdout=output,
            stderr=asyncio.subprocess.STDOUT,
        )


async def stop_worker(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        async with asyncio.timeout(10):
            await process.wait()
    except TimeoutError:
        process.kill()
        await process.wait()
