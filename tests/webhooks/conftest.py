"""Fixtures of the webhook tests: a local receiver, a clock at the real time, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from webhook_receiver import Receiver

from opsdesk.clock import FrozenClock
from opsdesk.settings import Settings
from opsdesk.webhooks.guard import outbound_client

# Small, so a stalled receiver costs the suite half a second per attempt.
TEST_WEBHOOK_TIMEOUT_SECONDS = 0.5


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
        # The receiver listens on 127.0.0.1, a loopback address the guard refuses unless listed.
        webhook_allowed_hosts=["127.0.0.1"],
    )


@pytest.fixture
async def outbound(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The client the worker sends with: guarded, and blind to proxy variables."""
    async with outbound_client(settings) as http_client:
        yield http_client
