"""Fixtures of the webhook tests: a local receiver, a clock at the real time, an HTTP client."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from webhook_receiver import Receiver

from opsdesk.clock import FrozenClock
from opsdesk.settings import Settings

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
    )


@pytest.fixture
async def outbound() -> AsyncIterator[httpx.AsyncClient]:
    """The client the delivery jobs send with; it ignores proxy variables of the environment."""
    async with httpx.AsyncClient(trust_env=False, follow_redirects=False) as http_client:
        yield http_client
