"""The worker process: three loops that share one database and one HTTP client.

- timers: fires each SLA clock's warning and breach at its instant. It sleeps exactly
  until the earliest one, or until a commit in this process (or a PostgreSQL NOTIFY from
  another) says new work exists, and at most `idle_wakeup_seconds`.
- outbox: turns new events into deliveries.
- deliveries: sends due webhook deliveries.

Any number of workers may run against one PostgreSQL database; they coordinate only
through row locks and leases.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from datetime import datetime

import httpx
from sqlalchemy.exc import DBAPIError, OperationalError

from opsdesk.automation.jobs import fire_rule_timers, next_rule_timer_at, run_event_rules
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.mail.jobs import next_mail_at, run_mail_jobs
from opsdesk.mail.smtp import mail_configured
from opsdesk.notifications.jobs import next_notification_at, send_due_notifications
from opsdesk.sla.jobs import fire_due_clocks, next_fire_at
from opsdesk.wakeups import Channel, listen
from opsdesk.webhooks.guard import outbound_client
from opsdesk.webhooks.jobs import deliver_due, dispatch_outbox, next_delivery_at

logger = logging.getLogger(__name__)

ERROR_BACKOFF_SECONDS = 2.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    def __init__(self, db: Database, ctx: Context, *, name: str | None = None) -> None:
        self.db = db
        self.ctx = ctx
        self.name = name or worker_name()
        self.idle = ctx.settings.idle_wakeup_seconds

    async def run(self, stop: asyncio.Event) -> None:
        logger.info("worker %s started on %s", self.name, self.db.dialect)
        # The guarded client refuses internal addresses for webhooks and notifications.
        # Without outgoing mail nothing can become due, so the mail loop reads nothing on
        # the wake-up that every new event brings.
        next_mail = (lambda: next_mail_at(self.db)) if mail_configured(self.ctx.settings) else None
        async with outbound_client(self.ctx.settings) as client:
            loops = [
                self._loop("timers", stop, self._fire_timers, self._next_timer),
                self._loop("outbox", stop, self._dispatch, None),
                self._loop("rules", stop, self._run_rules, None),
                self._loop(
                    "mail",
                    stop,
                    lambda: run_mail_jobs(self.db, self.ctx, owner=self.name),
                    next_mail,
                ),
                self._loop("deliveries", stop, lambda: self._deliver(client), self._next_delivery),
            ]
            if self.db.dialect == "postgresql":
                loops.append(self._listen(stop))
            await asyncio.gather(*loops)
        logger.info("worker %s stopped", self.name)

    async def _fire_timers(self) -> int:
        fired = await fire_due_clocks(self.db, self.ctx, limit=200)
        return fired + await fire_rule_timers(self.db, self.ctx, limit=200)

    # The rules and outbox loops lock the same event rows and skip rows locked by the
    # other. After either one commits, the other looks again at once, so an event it
    # skipped does not wait for the next commit or the idle wake-up.
    async def _run_rules(self) -> int:
        handled = await run_event_rules(self.db, self.ctx)
        if handled:
            self.db.wakeups.wake(["outbox"])
        return handled

    async def _dispatch(self) -> int:
        handled = await dispatch_outbox(self.db, self.ctx)
        if handled:
            self.db.wakeups.wake(["rules"])
        return handled

    async def _deliver(self, client: httpx.AsyncClient) -> int:
        sent = await deliver_due(self.db, self.ctx, client, owner=self.name)
        return sent + await send_due_notifications(self.db, self.ctx, client, owner=self.name)

    async def _next_timer(self) -> datetime | None:
        async with self.db.read() as session:
            instants = [await next_fire_at(session), await next_rule_timer_at(session)]
        return min((instant for instant in instants if instant is not None), default=None)

    async def _next_delivery(self) -> datetime | None:
        instants = [await next_delivery_at(self.db), await next_notification_at(self.db)]
        return min((instant for instant in instants if instant is not None), default=None)

    async def _loop(
        self,
        channel: Channel,
        stop: asyncio.Event,
        work: Callable[[], Awaitable[int]],
        next_due: Callable[[], Awaitable[datetime | None]] | None,
    ) -> None:
        while not stop.is_set():
            try:
                if await work():
                    continue
                timeout = self.idle
                if next_due is not None:
                    due = await next_due()
                    if due is not None:
                        timeout = min(
                            timeout, max(0.0, (due - self.ctx.clock.now()).total_seconds())
                        )
            except (OperationalError, DBAPIError, OSError) as exc:
                logger.warning(
                    "worker %s %s loop: database unavailable (%s); retrying",
                    self.name,
                    channel,
                    exc,
                )
                timeout = ERROR_BACKOFF_SECONDS
            except Exception:
                logger.exception("worker %s %s loop failed; retrying", self.name, channel)
                timeout = ERROR_BACKOFF_SECONDS
            await self.db.wakeups.wait(channel, timeout, stop)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Relay PostgreSQL NOTIFY from other processes to this process's loops."""
        await listen(
            self.db.url,
            stop,
            on_notify=self.db.wakeups.wake,
            on_connect=lambda: self.db.wakeups.wake(
                ["timers", "outbox", "deliveries", "rules", "mail"]
            ),
            name=f"worker {self.name}",
        )
