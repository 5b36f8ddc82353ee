"""A webhook receiver on 127.0.0.1 and the fixtures that deliver to it.

The receiver is a small HTTP/1.1 server written on asyncio streams, so a test controls
every byte: it records each request's headers and raw body, and answers from a script of
statuses, delays and slowly sent bodies. It serves one request per connection.
"""

from __future__ import annotations

import asyncio
import http
from collections import deque
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.settings import Settings
from opsdesk.webhooks.jobs import deliver_due, dispatch_outbox

# Small, so a stalled receiver costs the suite half a second per attempt.
TEST_WEBHOOK_TIMEOUT_SECONDS = 0.5
MAX_HEADER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Reply:
    """One scripted answer of the receiver."""

    status: int = 200
    delay: float = 0.0  # seconds to wait before the status line is sent
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    # When set, the body is sent one byte at a time with this many seconds between bytes.
    byte_interval: float | None = None


@dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    body: bytes


class Receiver:
    """An HTTP server on an ephemeral port of 127.0.0.1 that answers from a script.

    Requests past the end of the script get 200. `stop` cancels answers still waiting.
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

    async def wait_for_requests(self, count: int, *, timeout: float = 20.0) -> list[ReceivedRequest]:
        """Return the requests once at least `count` arrived; raise TimeoutError after `timeout` s."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.requests) >= count)
        return list(self.requests)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)  # type: ignore[arg-type]
        try:
            request = await _read_request(reader)
            self.requests.append(request)
            reply = self._replies.popleft() if self._replies else Reply()
            async with self._changed:
                self._changed.notify_all()
            if reply.delay:
                await asyncio.sleep(reply.delay)
            await _write_reply(writer, reply)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            # The client went away (a timeout or a killed worker); nothing is left to answer.
            pass
        finally:
            self._handlers.discard(task)  # type: ignore[arg-type]
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


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def clock() -> FrozenClock:
    """A frozen clock that starts now: receivers reject signatures more than 5 min off."""
    return FrozenClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        base_url="http://testserver",
        idle_wakeup_seconds=0.2,
        webhook_timeout_seconds=TEST_WEBHOOK_TIMEOUT_SECONDS,
    )


@pytest.fixture
async def outbound() -> AsyncIterator[httpx.AsyncClient]:
    """The client the delivery jobs send with; it ignores proxy variables of the environment."""
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as http_client:
        yield http_client


async def run_delivery_jobs(
    db: Database, ctx: Context, outbound: httpx.AsyncClient, *, owner: str = "test-worker"
) -> int:
    """Fan out new events, then send every due delivery once; return how many were sent."""
    await dispatch_outbox(db, ctx)
    return await deliver_due(db, ctx, outbound, owner=owner)
