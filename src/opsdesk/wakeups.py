"""Wake worker loops right after a commit that created work for them.

A service marks its session with `request_wakeup(session, "timers")`. After that
transaction commits, every worker loop in this process is woken at once; on PostgreSQL a
NOTIFY sent inside the transaction (and so delivered only on commit) wakes workers in
other processes too. A rolled-back transaction wakes nobody.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, Literal

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

logger = logging.getLogger(__name__)

Channel = Literal["timers", "outbox", "deliveries", "live", "rules", "mail"]
CHANNELS: tuple[Channel, ...] = ("timers", "outbox", "deliveries", "live", "rules", "mail")
NOTIFY_CHANNEL = "opsdesk_work"
_INFO_KEY = "opsdesk_wakeups"


class Wakeups:
    """One asyncio.Event per kind of work, shared by the loops of one process."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {channel: asyncio.Event() for channel in CHANNELS}

    def wake(self, channels: Iterable[str]) -> None:
        for channel in channels:
            if channel in self._events:
                self._events[channel].set()

    async def wait(
        self, channel: Channel, seconds: float, stop: asyncio.Event | None = None
    ) -> None:
        """Sleep until woken on `channel`, until `stop` is set, or for at most `seconds`."""
        flag = self._events[channel]
        if seconds > 0 and not flag.is_set():
            waiters = [asyncio.ensure_future(flag.wait())]
            if stop is not None:
                waiters.append(asyncio.ensure_future(stop.wait()))
            try:
                await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
        flag.clear()


def request_wakeup(session: AsyncSession | Session, channel: Channel) -> None:
    sync = session.sync_session if isinstance(session, AsyncSession) else session
    channels = sync.info.setdefault(_INFO_KEY, set())
    channels.add(channel)
    if channel == "outbox":
        # New events also go to automation rules, outgoing mail and the live pages.
        channels.update(("live", "rules", "mail"))


@event.listens_for(Session, "before_commit")
def _notify_other_processes(session: Session) -> None:
    channels = session.info.get(_INFO_KEY)
    if not channels:
        return
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        # NOTIFY is transactional: listeners hear it only if this transaction commits.
        session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": NOTIFY_CHANNEL, "payload": ",".join(sorted(channels))},
        )


@event.listens_for(Session, "after_commit")
def _wake_this_process(session: Session) -> None:
    channels = session.info.pop(_INFO_KEY, None)
    wakeups: Any = session.info.get("wakeups")
    if channels and isinstance(wakeups, Wakeups):
        wakeups.wake(channels)


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)


LISTEN_RETRY_SECONDS = 2.0


async def listen(
    url: str,
    stop: asyncio.Event,
    *,
    on_notify: Callable[[list[str]], None],
    on_connect: Callable[[], None],
    name: str,
) -> None:
    """Hold a LISTEN connection to PostgreSQL until `stop`, reconnecting when it drops.

    `on_notify` gets the channels of each NOTIFY. `on_connect` runs after every
    (re)connection, because work announced while no listener was connected was missed.
    """
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    def relay(_connection: object, _pid: int, _channel: str, payload: str) -> None:
        on_notify(payload.split(","))

    while not stop.is_set():
        connection = None
        closed = asyncio.Event()

        def on_close(_connection: object, closed: asyncio.Event = closed) -> None:
            closed.set()

        try:
            connection = await asyncpg.connect(dsn)
            connection.add_termination_listener(on_close)
            await connection.add_listener(NOTIFY_CHANNEL, relay)
            on_connect()
            waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(closed.wait())]
            try:
                await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waiters:
                    waiter.cancel()
            if closed.is_set() and not stop.is_set():
                logger.warning("%s: LISTEN connection closed; reconnecting", name)
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("%s: LISTEN connection failed (%s); retrying", name, exc)
            await asyncio.sleep(LISTEN_RETRY_SECONDS)
        finally:
            if connection is not None and not connection.is_closed():
                await connection.close()
