"""Fixtures of the e-mail tests: settings with e-mail intake configured."""

from __future__ import annotations

import pytest
from mail_support import MAIL_SERVICE_TYPE, SUPPORT

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
