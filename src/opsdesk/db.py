"""Database engine, sessions and the column types every model shares.

SQLite (embedded default) and PostgreSQL (production) are both first-class. SQLite runs in
WAL mode and every transaction starts with BEGIN IMMEDIATE, so two writers queue on the
database lock instead of failing halfway through a transaction.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from opsdesk.wakeups import Wakeups

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored in UTC.

    PostgreSQL keeps it as timestamptz. SQLite has no time zone type, so the value is stored
    as naive UTC text (which sorts in time order) and gets its UTC zone back on load.
    Binding a naive datetime raises, because its meaning would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; use UTC")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY, so big keys are plain integers there.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


def new_public_id(prefix: str) -> str:
    """Return a unique, roughly time-ordered identifier such as ``evt_0193a1b2c3d4e5f6...``.

    The first 12 hex digits are the creation time in milliseconds, so ids sort by age;
    80 random bits follow.
    """
    return f"{prefix}_{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


READ_ONLY_OPTION = "opsdesk_read_only"


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    if is_sqlite(url):
        engine = create_async_engine(url, echo=echo, connect_args={"timeout": 30})
        _configure_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        echo=echo,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver so BEGIN IMMEDIATE below is the
        # only BEGIN, and set the pragmas every connection needs.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Readers begin deferred so that, in WAL mode, they never wait for the write lock.
        if connection.get_execution_options().get(READ_ONLY_OPTION):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_session_factory(
    engine: AsyncEngine, wakeups: Wakeups | None = None
) -> async_sessionmaker[AsyncSession]:
    info = {"wakeups": wakeups} if wakeups is not None else {}
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True, info=info)


class Database:
    """The engine and session factory of one process.

    `wakeups` is woken after each commit that created work, so worker loops in this
    process start on it at once (see `opsdesk.wakeups`).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine = create_engine(url, echo=echo)
        self.wakeups = Wakeups()
        self.sessions = create_session_factory(self.engine, self.wakeups)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Open a session with one transaction that commits on success and rolls back on error."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Open a session for reading only; its transaction is rolled back at the end."""
        async with self.sessions() as session:
            await session.connection(execution_options={READ_ONLY_OPTION: True})
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()
