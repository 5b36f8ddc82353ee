"""What a real `opsdesk worker` process writes to its log while delivering."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from webhook_receiver import (
    Receiver,
    create_subscription,
    start_worker,
    stop_worker,
    submit_request,
)

from opsdesk.db import Database
from opsdesk.webhooks.models import WebhookDelivery


async def wait_for_status(db: Database, status: str) -> None:
    while True:
        async with db.read() as session:
            found = await session.scalar(select(WebhookDelivery.status))
        if found == status:
            return
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_worker_log_hides_url_token(
    client: httpx.AsyncClient,
    make_user,
    db: Database,
    database_url: str,
    receiver: Receiver,
    tmp_path: Path,
) -> None:
    admin = await make_user("admin")
    token = f"T0KEN{uuid.uuid4().hex}"
    subscription = await create_subscription(
        client, admin.headers, url=f"{receiver.url}?token={token}", event_types=["ticket.created"]
    )
    await submit_request(client)
    log = tmp_path / "worker.log"

    worker = await start_worker(database_url, log)
    try:
        async with asyncio.timeout(30):
            await receiver.wait_for_requests(1)
            await wait_for_status(db, "succeeded")
    finally:
        await stop_worker(worker)

    output = log.read_text(errors="replace")
    assert "attempt 1: succeeded" in output
    assert subscription["secret"].removeprefix("whsec_") not in output
    assert token not in output
