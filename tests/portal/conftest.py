"""Fixtures of the portal and widget tests: small attachment limits, apps with own settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from portal_support import TEST_ATTACHMENT_BYTES, OpenApp

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.settings import Settings
from opsdesk.web.app import create_app


@pytest.fixture
def settings(database_url: str) -> Settings:
    # Rate limits are high here so that only the rate-limit tests, which set their own,
    # meet them.
    return Settings(
        database_url=database_url,
        base_url="http://testserver",
        idle_wakeup_seconds=0.2,
        attachment_max_bytes=TEST_ATTACHMENT_BYTES,
        rate_limit_address_burst=1000,
        rate_limit_origin_burst=1000,
    )


@pytest.fixture
def open_app(db: Database, ctx: Context) -> OpenApp:
    """Start an app on the test database with settings changed by keyword arguments."""

    @asynccontextmanager
    async def start(**changes: Any) -> AsyncIterator[FastAPI]:
        settings = Settings(**(ctx.settings.model_dump() | changes))
        app = create_app(settings=settings, workspace=ctx.workspace, database=db, clock=ctx.clock)
        async with app.router.lifespan_context(app):
            yield app

    return start
