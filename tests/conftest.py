"""Fixtures shared by the whole suite.

Database tests run twice, on SQLite and on PostgreSQL (the `database_url` fixture is
parametrised). PostgreSQL tests use a database of their own, created for this test run
and dropped at its end, so they never touch data outside it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.migrate import migrate
from opsdesk.models import Base
from opsdesk.settings import Settings
from opsdesk.users import service as users
from opsdesk.web.app import create_app
from opsdesk.workspace import Workspace, load_workspace
from support import EXAMPLE_WORKSPACE

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def workspace() -> Workspace:
    return load_workspace(EXAMPLE_WORKSPACE)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, so migrations run once per session."""
    path = tmp_path_factory.mktemp("template") / "opsdesk.db"
    migrate(f"sqlite+aiosqlite:///{path}")
    return path


def _postgres_admin_url() -> str:
    return os.environ.get("OPSDESK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of a fresh, migrated PostgreSQL database for this test session."""
    admin_url = _postgres_admin_url()
    name = f"opsdesk_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"

    async def run(statement: str) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(admin_url), timeout=5)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    try:
        asyncio.run(run(f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        host = make_url(admin_url).host
        message = f"PostgreSQL at {host} is not reachable ({exc}); set OPSDESK_TEST_POSTGRES_URL"
        if os.environ.get("OPSDESK_REQUIRE_POSTGRES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    migrate(url)
    yield url
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "opsdesk.db"
        shutil.copyfile(sqlite_template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def truncate_all(db: Database) -> None:
    if db.dialect != "postgresql":
        return
    tables = ", ".join(f'"{table.name}"' for table in Base.metadata.sorted_tables)
    async with db.transaction() as session:
        await session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    await truncate_all(database)
    yield database
    await database.dispose()


@pytest.fixture
async def postgres_db(postgres_url: str) -> AsyncIterator[Database]:
    """For tests of what only PostgreSQL offers: row locks across processes, NOTIFY."""
    database = Database(postgres_url)
    await truncate_all(database)
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    # A Tuesday inside Lagos office hours (10:00 local, UTC+1).
    return FrozenClock(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        base_url="http://testserver",
        idle_wakeup_seconds=0.2,
        # Tests that deliver webhooks run their receivers here; the guard refuses loopback.
        webhook_allowed_hosts=["127.0.0.1"],
    )


@pytest.fixture
def ctx(workspace: Workspace, clock: FrozenClock, settings: Settings) -> Context:
    return Context(workspace=workspace, clock=clock, settings=settings)


@pytest.fixture
async def client(db: Database, ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client wired to the app in this process, with the app's start-up run."""
    app = create_app(settings=ctx.settings, workspace=ctx.workspace, database=db, clock=ctx.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


@dataclass(frozen=True)
class Staff:
    email: str
    headers: dict[str, str]


MakeUser = Callable[..., Awaitable[Staff]]


@pytest.fixture
def make_user(db: Database, ctx: Context) -> MakeUser:
    """Create a user and return its e-mail and the headers that authenticate as it."""

    async def make(
        role: str = "agent", email: str | None = None, teams: list[str] | None = None
    ) -> Staff:
        email = email or f"{role}-{uuid.uuid4().hex[:6]}@example.com"
        async with db.transaction() as session:
            user = await users.create_user(
                session,
                email=email,
                name=email.split("@")[0],
                role=role,
                teams=teams or [],
                known_teams=[team.key for team in ctx.workspace.spec.teams],
                at=ctx.clock.now(),
            )
            issued = users.issue_token(session, user=user, name="test", at=ctx.clock.now())
        return Staff(email=email, headers={"Authorization": f"Bearer {issued.secret}"})

    return make
