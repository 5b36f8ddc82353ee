"""Fixtures of the notification tests: a local HTTP receiver and a guarded outbound client."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from notification_support import Receiver

from opsdesk.context import Context
from opsdesk.webhooks.guard import OutboundGuard, outbound_client


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def outbound(ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """The worker's guarded client, with 127.0.0.1 allowed so the local receiver is reachable."""
    guard = OutboundGuard.from_entries(["127.0.0.1"])
    async with outbound_client(ctx.settings, guard=guard) as client:
        yield client
