"""Fan committed outbox events out to the browsers connected to this process.

One task per process reads new rows of `outbox_events` when a commit in this process
wakes it, when PostgreSQL NOTIFY says another process committed events, or at least once a
second. Every connected browser has a bounded queue; a browser too slow to keep up misses
events rather than slowing the others, and the pages re-read their data on the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.wakeups import listen

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0
QUEUE_SIZE = 200
BATCH = 500
# Ids come from a sequence, and on PostgreSQL a transaction can commit after one with a
# higher id. Each read starts this many ids back, and ids already sent are skipped.
LOOKBACK_IDS = 200
REMEMBERED_IDS = 5000


@dataclass(frozen=True)
class LiveEvent:
    id: str
    type: str
    ticket_id: int | None
    data: dict[str, Any]

    def to_sse(self) -> str:
        body = json.dumps(
            {"id": self.id, "type": self.type, "ticket_id": self.ticket_id, "data": self.data},
            separators=(",", ":"),
        )
        return f"id: {self.id}\nevent: {self.type}\ndata: {body}\n\n"


class Broadcaster:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._queues: set[asyncio.Queue[LiveEvent]] = set()
        self._sent: OrderedDict[int, None] = OrderedDict()
        self._last_id = 0

    async def subscribe(self) -> asyncio.Queue[LiveEvent]:
        if not self._queues:
            await self._position()
        queue: asyncio.Queue[LiveEvent] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._queues.add(queue)
        return queue

    async def _position(self) -> None:
        """Start the stream after the newest event, counting the ones before it as sent.

        While no browser is connected nothing is read, so intake pays no query per commit.
        Events committed before the browser connected are in the page it just loaded.
        """
        async with self.db.read() as session:
            newest = (
                await session.execute(
                    select(OutboxEvent.id).order_by(OutboxEvent.id.desc()).limit(LOOKBACK_IDS)
                )
            ).scalars()
            ids = sorted(newest)
        for event_id in ids:
            self._sent[event_id] = None
        self._last_id = max([self._last_id, *ids])

    def unsubscribe(self, queue: asyncio.Queue[LiveEvent]) -> None:
        self._queues.discard(queue)

    @property
    def subscribers(self) -> int:
        return len(self._queues)

    async def run(self, stop: asyncio.Event) -> None:
        async with self.db.read() as session:
            self._last_id = (await session.execute(select(func.max(OutboxEvent.id)))).scalar() or 0
        listener = None
        if self.db.dialect == "postgresql":
            listener = asyncio.create_task(self._listen(stop))
        try:
            while not stop.is_set():
                try:
                    await self._read_new()
                except Exception:
                    logger.exception("live updates: reading new events failed; retrying")
                await self.db.wakeups.wait("live", POLL_SECONDS, stop)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _read_new(self) -> None:
        if not self._queues:
            return
        async with self.db.read() as session:
            rows = (
                await session.execute(
                    select(OutboxEvent)
                    .where(OutboxEvent.id > self._last_id - LOOKBACK_IDS)
                    .order_by(OutboxEvent.id)
                    .limit(BATCH + LOOKBACK_IDS)
                )
            ).scalars()
            events = [row for row in rows if row.id not in self._sent]
        for row in events:
            self._sent[row.id] = None
            self._last_id = max(self._last_id, row.id)
            self._publish(
                LiveEvent(id=row.event_id, type=row.type, ticket_id=row.ticket_id, data=row.payload)
            )
        while len(self._sent) > REMEMBERED_IDS:
            self._sent.popitem(last=False)

    def _publish(self, event: LiveEvent) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                logger.warning(
                    "live updates: a browser fell behind; event %s dropped for it", event.id
                )

    async def _listen(self, stop: asyncio.Event) -> None:
        def relay(channels: list[str]) -> None:
            if "outbox" in channels:
                self.db.wakeups.wake(["live"])

        await listen(
            self.db.url,
            stop,
            on_notify=relay,
            on_connect=lambda: self.db.wakeups.wake(["live"]),
            name="live updates",
        )
