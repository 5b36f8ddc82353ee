"""Rate limits shared by API processes through PostgreSQL.

Each limiter or app here has its own engine, as a separate process would, and they meet
only in the database.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from portal_support import client_for, ticket_count
from test_rate_limits import API_REQUEST

from opsdesk.context import Context
from opsdesk.db import Database, create_engine
from opsdesk.settings import Settings
from opsdesk.web.app import create_app
from opsdesk.web.ratelimit import SharedRateLimiter


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def limiters(
    postgres_db: Database, postgres_url: str
) -> Callable[..., AsyncIterator[list[SharedRateLimiter]]]:
    """Limiters with the given limits, each on an engine of its own."""

    @asynccontextmanager
    async def start(
        count: int, clock: FakeTime, **limits: Any
    ) -> AsyncIterator[list[SharedRateLimiter]]:
        engines = [create_engine(postgres_url) for _ in range(count)]
        values = {
            "address_burst": 3,
            "address_per_minute": 6.0,
            "origin_burst": 100,
            "origin_per_minute": 60.0,
        } | limits
        try:
            yield [SharedRateLimiter(engine, clock=clock, **values) for engine in engines]
        finally:
            for engine in engines:
                await engine.dispose()

    return start


async def test_processes_share_one_burst(limiters: Any) -> None:
    clock = FakeTime()
    async with limiters(2, clock) as (first, second):
        verdicts = [
            await limiter.verdict(address="198.51.100.7", origin=None)
            for limiter in (first, second, first)
        ]
        assert all(verdict.allowed for verdict in verdicts)

        for limiter in (first, second):
            rejected = await limiter.verdict(address="198.51.100.7", origin=None)
            assert not rejected.allowed
            assert rejected.limited_by == "address"
            assert rejected.retry_after == 10

        assert (await second.verdict(address="198.51.100.8", origin=None)).allowed

        clock.now += 10
        assert (await second.verdict(address="198.51.100.7", origin=None)).allowed
        assert not (await first.verdict(address="198.51.100.7", origin=None)).allowed


async def test_empty_origin_takes_no_address_token(limiters: Any) -> None:
    clock = FakeTime()
    async with limiters(2, clock, address_burst=5, origin_burst=1) as (first, second):
        site = "https://shop.example"
        assert (await first.verdict(address="198.51.100.7", origin=site)).allowed
        rejected = await second.verdict(address="198.51.100.7", origin=site)
        assert not rejected.allowed
        assert rejected.limited_by == "origin"
        assert rejected.retry_after == 1

        # Four address tokens remain: the rejected request took none.
        for _ in range(4):
            assert (await second.verdict(address="198.51.100.7", origin=None)).allowed
        assert not (await first.verdict(address="198.51.100.7", origin=None)).allowed


async def test_long_keys_are_stored_hashed(limiters: Any, postgres_db: Database) -> None:
    clock = FakeTime()
    forged = "https://" + "a" * 5000 + ".example"
    async with limiters(1, clock, origin_burst=1) as (limiter,):
        assert (await limiter.verdict(address="198.51.100.7", origin=forged)).allowed
        assert not (await limiter.verdict(address="198.51.100.9", origin=forged)).allowed


async def test_unreachable_database_lets_requests_pass(
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = create_engine("postgresql+asyncpg://postgres@127.0.0.1:9/nowhere")
    limiter = SharedRateLimiter(
        engine, address_burst=1, address_per_minute=1, origin_burst=1, origin_per_minute=1
    )
    try:
        with caplog.at_level(logging.WARNING, logger="opsdesk.web.ratelimit"):
            for _ in range(3):
                assert (await limiter.verdict(address="198.51.100.7", origin=None)).allowed
    finally:
        await engine.dispose()
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1, messages
    assert messages[0].startswith("rate limit not checked, letting requests pass")


async def test_two_apps_enforce_one_limit(
    postgres_db: Database, postgres_url: str, ctx: Context
) -> None:
    settings = Settings(
        **(
            ctx.settings.model_dump()
            | {
                "database_url": postgres_url,
                "rate_limit_address_burst": 3,
                "rate_limit_address_per_minute": 1 / 60,
            }
        )
    )

    @asynccontextmanager
    async def process() -> AsyncIterator[FastAPI]:
        database = Database(postgres_url)
        app = create_app(
            settings=settings, workspace=ctx.workspace, database=database, clock=ctx.clock
        )
        try:
            async with app.router.lifespan_context(app):
                yield app
        finally:
            await database.dispose()

    async with process() as first, process() as second:
        statuses = []
        for app in (first, second, first, second, first):
            async with client_for(app, "192.0.2.10") as client:
                response = await client.post("/api/v1/requests", json=API_REQUEST)
                statuses.append(response.status_code)
    assert statuses == [201, 201, 201, 429, 429]
    assert await ticket_count(postgres_db) == 3
