"""Helpers of the notification tests: tickets, users, preferences and a local receiver."""

from __future__ import annotations

import asyncio
import dataclasses
import http
import json
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.service import emit
from opsdesk.notifications.models import Notification, NotificationDelivery
from opsdesk.notifications.preferences import replace_matrix
from opsdesk.notifications.service import notify_users, write_notifications
from opsdesk.tickets import service as tickets
from opsdesk.users.models import User

OWNER = "test-worker"

REQUEST: dict[str, Any] = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "service_type": "solar_repair",
    "contact_method": "email",
    "priority": "high",
    "subject": "Inverter trips",
    "description": "Every hour.",
}


async def create_ticket(db: Database, ctx: Context, **overrides: Any) -> int:
    async with db.transaction() as session:
        created = await tickets.create_ticket(
            session, ctx, tickets.NewTicket(**(REQUEST | overrides)), channel="api"
        )
        return created.ticket.id


async def user_id_of(db: Database, email: str) -> int:
    async with db.read() as session:
        found = await session.scalar(select(User.id).where(User.email == email))
        assert found is not None, f"no user {email}"
        return found


async def set_preferences(
    db: Database,
    ctx: Context,
    email: str,
    channels: dict[str, list[str]] | None,
    **fields: Any,
) -> None:
    """Store channels and user fields (quiet hours, URLs) directly, without the API's checks."""
    async with db.transaction() as session:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
        for name, value in fields.items():
            setattr(user, name, value)
        await replace_matrix(session, user=user, matrix=channels, at=ctx.clock.now())


async def notify(
    db: Database,
    ctx: Context,
    *,
    ticket_id: int,
    event_type: str,
    recipients: list[list[str]],
    data: dict[str, Any] | None = None,
    event_id: str | None = None,
) -> str:
    """Emit one event (or reuse `event_id`) and notify each list of e-mails in `recipients`.

    Each inner list is one notify_users call, as two notify actions of one escalation
    step or rule make. Returns the event's id.
    """
    at = ctx.clock.now()
    async with db.transaction() as session:
        if event_id is None:
            event_id = emit(
                session,
                type=event_type,
                at=at,
                ticket_id=ticket_id,
                data=data or {"reference": f"SR-{ticket_id:06d}", "name": "Test escalation"},
            )
        for emails in recipients:
            users = list(
                (await session.execute(select(User).where(User.email.in_(emails)))).scalars()
            )
            notify_users(
                session,
                users=users,
                kind="escalation.test",
                title="Test notice",
                body="Something needs you.",
                at=at,
                ticket_id=ticket_id,
            )
        await write_notifications(session, ctx, event_id=event_id)
    return event_id


async def deliveries_of(db: Database, user_id: int) -> dict[str, NotificationDelivery]:
    """Return the user's deliveries by channel; fails if a channel has two."""
    async with db.read() as session:
        rows = list(
            (
                await session.execute(
                    select(NotificationDelivery)
                    .where(NotificationDelivery.user_id == user_id)
                    .order_by(NotificationDelivery.id)
                )
            ).scalars()
        )
    by_channel = {row.channel: row for row in rows}
    assert len(by_channel) == len(rows), f"two deliveries on one channel: {rows}"
    return by_channel


async def inbox_of(db: Database, user_id: int) -> list[Notification]:
    async with db.read() as session:
        return list(
            (
                await session.execute(
                    select(Notification)
                    .where(Notification.user_id == user_id)
                    .order_by(Notification.id)
                )
            ).scalars()
        )


def with_settings(ctx: Context, **changes: Any) -> Context:
    return dataclasses.replace(ctx, settings=ctx.settings.model_copy(update=changes))


# A local receiver --------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on an ephemeral port of 127.0.0.1 that replies from a script.

    It serves one request per connection; requests past the end of the script get 200.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._server: asyncio.Server | None = None

    def url(self, path: str) -> str:
        assert self._server is not None, "start the receiver first"
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"http://{host}:{port}{path}"

    def script(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, *lines = head.decode("latin-1").split("\r\n")
            path = request_line.split(" ")[1]
            headers = {}
            for line in lines:
                if line:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.requests.append(Received(path=path, headers=headers, body=body))
            reply = self._replies.popleft() if self._replies else Reply()
            status_line = f"HTTP/1.1 {reply.status} {http.HTTPStatus(reply.status).phrase}"
            head_lines = [
                status_line,
                "content-type: text/plain",
                f"content-length: {len(reply.body)}",
                "connection: close",
                *(f"{name}: {value}" for name, value in reply.headers.items()),
            ]
            writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + reply.body)
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()
