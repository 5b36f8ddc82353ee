"""Fixtures of the e-mail tests: settings with e-mail intake configured, an SMTP server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiosmtpd.smtp import SMTP
from mail_support import MAIL_SERVICE_TYPE, SUPPORT
from smtp_support import Inbox, SmtpServer

from opsdesk.settings import Settings

MAIL_MAX_MESSAGE_BYTES = 256 * 1024
"""Raw message limit of these tests: above every corpus file, small enough to exceed."""


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        base_url="http://testserver",
        idle_wakeup_seconds=0.2,
        mail_default_service_type=MAIL_SERVICE_TYPE,
        mail_max_message_bytes=MAIL_MAX_MESSAGE_BYTES,
        mail_from=f"Brightline Support <{SUPPORT}>",
        rate_limit_address_burst=1000,
        rate_limit_origin_burst=1000,
    )


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    inbox = Inbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(inbox, hostname="mail.test", timeout=10), "127.0.0.1", 0
    )
    port = server.sockets[0].getsockname()[1]
    try:
        yield SmtpServer(inbox=inbox, port=port)
    finally:
        server.close()
        await server.wait_closed()
