"""Notify staff of an event: an inbox row at once, and deliveries on the channels they chose.

Escalations and automation rules call `notify_users` while their actions run, before they
emit the event that records the run. `notify_users` only queues the notice on the session.
Right after `emit`, the caller passes the event's id to `write_notifications`, which links
every queued notice to that event and writes, per person, one NotificationDelivery row
per channel their preferences select, plus the inbox row.

The unique (event, user, channel) of NotificationDelivery makes a person get an event at
most once per channel, however many notify actions of one escalation step or rule name
them. Rows are inserted with ON CONFLICT DO NOTHING, and an inbox row is written only
when its delivery row was new.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from opsdesk.context import Context
from opsdesk.db import allocate_ids, table_of
from opsdesk.errors import NotFound
from opsdesk.events.models import OutboxEvent
from opsdesk.notifications.models import Notification, NotificationDelivery
from opsdesk.notifications.preferences import INBOX, channels_for, matrices_of, quiet_hours_of
from opsdesk.tickets.models import Ticket
from opsdesk.users.models import User
from opsdesk.wakeups import request_wakeup

_NOTICES_KEY = "opsdesk_pending_notices"
"""Session info key: notices queued by notify_users and not yet linked to their event."""


@dataclass(frozen=True)
class Notice:
    """A notification queued by `notify_users`, waiting for the event it belongs to."""

    user_ids: tuple[int, ...]
    kind: str
    title: str
    body: str
    at: datetime
    ticket_id: int | None
    task_id: int | None


def notify_users(
    session: AsyncSession,
    *,
    users: Sequence[User],
    kind: str,
    title: str,
    body: str,
    at: datetime,
    ticket_id: int | None = None,
    task_id: int | None = None,
) -> None:
    """Queue a notification to `users` for the event the caller emits next.

    Nothing is written here: the caller must pass that event's id to `write_notifications`
    in the same transaction, or the commit raises.
    """
    if not users:
        return
    notices: list[Notice] = session.sync_session.info.setdefault(_NOTICES_KEY, [])
    notices.append(
        Notice(
            user_ids=tuple(dict.fromkeys(user.id for user in users)),
            kind=kind,
            title=title,
            body=body,
            at=at,
            ticket_id=ticket_id,
            task_id=task_id,
        )
    )


async def write_notifications(session: AsyncSession, ctx: Context, *, event_id: str) -> int:
    """Link the queued notices to the event `event_id` and write their rows.

    `event_id` is the id `emit` returned in this transaction. Returns how many delivery
    rows were new. Rows that already existed for the same event, person and channel are
    left alone, and no second inbox row is written for them.
    """
    notices: list[Notice] = session.sync_session.info.pop(_NOTICES_KEY, [])
    if not notices:
        return 0
    found = (
        await session.execute(
            select(OutboxEvent.id, OutboxEvent.type).where(OutboxEvent.event_id == event_id)
        )
    ).first()
    if found is None:
        raise ValueError(f"event {event_id} is not in the outbox; emit it before linking")
    event_row_id, event_type = found

    user_ids = sorted({user_id for notice in notices for user_id in notice.user_ids})
    users = {
        user.id: user
        for user in (await session.execute(select(User).where(User.id.in_(user_ids)))).scalars()
    }
    matrices = await matrices_of(session, user_ids)
    now = ctx.clock.now()

    rows: dict[tuple[int, str], dict[str, Any]] = {}
    inbox_notice: dict[int, Notice] = {}
    for notice in notices:
        urgent = await _bypasses_quiet_hours(session, ctx, notice.ticket_id)
        for user_id in notice.user_ids:
            user = users.get(user_id)
            if user is None:
                continue
            for channel in sorted(channels_for(matrices[user_id], event_type)):
                if (user_id, channel) in rows:
                    continue
                rows[(user_id, channel)] = _delivery_row(
                    event_row_id, user, channel, now=now, urgent=urgent
                )
                if channel == INBOX:
                    inbox_notice[user_id] = notice
    if not rows:
        return 0

    table = table_of(NotificationDelivery)
    ids = await allocate_ids(session, table, len(rows))
    values = [row | {"id": row_id} for row, row_id in zip(rows.values(), ids, strict=True)]
    inserted = (
        await session.execute(
            _insert_ignoring_duplicates(session, table)
            .values(values)
            .returning(table.c.user_id, table.c.channel)
        )
    ).all()

    for user_id, channel in inserted:
        if channel == INBOX:
            notice = inbox_notice[user_id]
            session.add(
                Notification(
                    user_id=user_id,
                    ticket_id=notice.ticket_id,
                    task_id=notice.task_id,
                    kind=notice.kind,
                    title=notice.title,
                    body=notice.body,
                    created_at=notice.at,
                )
            )
    if any(channel != INBOX for _, channel in inserted):
        request_wakeup(session, "deliveries")
    return len(inserted)


def _delivery_row(
    event_row_id: int, user: User, channel: str, *, now: datetime, urgent: bool
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "event_id": event_row_id,
        "user_id": user.id,
        "channel": channel,
        "status": "pending",
        "attempt_count": 0,
        "next_attempt_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "created_at": now,
        "completed_at": None,
        "last_error": None,
    }
    if channel == INBOX:
        # The inbox row is written in this transaction, so its delivery is done already.
        row |= {"status": "sent", "completed_at": now}
        return row
    quiet = quiet_hours_of(user)
    quiet_end = quiet.until(now) if quiet is not None and not urgent else None
    if quiet_end is not None:
        row["next_attempt_at"] = quiet_end
    return row


async def _bypasses_quiet_hours(session: AsyncSession, ctx: Context, ticket_id: int | None) -> bool:
    """Return whether the settings send the ticket's priority during quiet hours."""
    bypass = ctx.settings.notification_quiet_hours_bypass_priorities
    if not bypass or ticket_id is None:
        return False
    ticket = await session.get(Ticket, ticket_id)
    return ticket is not None and ticket.priority in bypass


def _insert_ignoring_duplicates(session: AsyncSession, table: Table) -> Any:
    """Return an INSERT that skips rows whose (event, user, channel) already exists."""
    columns = ["event_id", "user_id", "channel"]
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=columns)
    return sqlite.insert(table).on_conflict_do_nothing(index_elements=columns)


@event.listens_for(Session, "before_commit")
def _require_linked_notices(session: Session) -> None:
    notices = session.info.get(_NOTICES_KEY)
    if notices:
        raise RuntimeError(
            f"{len(notices)} notification(s) queued by notify_users were never linked to "
            "an event; call write_notifications with the id emit returned"
        )


@event.listens_for(Session, "after_rollback")
def _forget_notices(session: Session) -> None:
    session.info.pop(_NOTICES_KEY, None)


# The inbox --------------------------------------------------------------------------------


async def inbox_page(
    session: AsyncSession, *, user: User, before_id: int | None, limit: int, unread_only: bool
) -> tuple[list[Notification], bool]:
    """Return the user's newest notifications older than `before_id`, and whether more exist."""
    query = select(Notification).where(Notification.user_id == user.id)
    if before_id is not None:
        query = query.where(Notification.id < before_id)
    if unread_only:
        query = query.where(Notification.read_at.is_(None))
    rows = list(
        (await session.execute(query.order_by(Notification.id.desc()).limit(limit + 1))).scalars()
    )
    return rows[:limit], len(rows) > limit


async def unread_count(session: AsyncSession, *, user: User) -> int:
    count = await session.scalar(
        select(func.count(Notification.id)).where(
            Notification.user_id == user.id, Notification.read_at.is_(None)
        )
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, *, user: User, notification_id: int, at: datetime
) -> Notification:
    """Mark one of the user's notifications read; reading it again keeps the first time."""
    notification = await session.get(Notification, notification_id)
    if notification is None or notification.user_id != user.id:
        # Another person's notification is reported like a missing one.
        raise NotFound(f"notification {notification_id} not found in your inbox")
    if notification.read_at is None:
        await session.execute(
            update(Notification)
            .where(Notification.id == notification.id, Notification.read_at.is_(None))
            .values(read_at=at)
        )
        await session.refresh(notification)
    return notification
