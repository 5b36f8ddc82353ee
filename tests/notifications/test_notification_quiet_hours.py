"""Quiet hours hold e-mail, Slack and Teams until the window ends; the inbox is never held."""

from __future__ import annotations

from datetime import UTC, datetime, time

import httpx
import pytest
from notification_support import (
    OWNER,
    create_ticket,
    deliveries_of,
    inbox_of,
    notify,
    set_preferences,
    user_id_of,
    with_settings,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.notifications.jobs import next_notification_at, send_due_notifications
from opsdesk.notifications.models import NotificationDelivery
from opsdesk.notifications.preferences import QuietHours, parse_timezone


def window(zone: str, start: str, end: str) -> QuietHours:
    start_hour, start_minute = map(int, start.split(":"))
    end_hour, end_minute = map(int, end.split(":"))
    return QuietHours(
        zone=parse_timezone(zone),
        start=time(start_hour, start_minute),
        end=time(end_hour, end_minute),
    )


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("zone", "start", "end", "at", "expected"),
    [
        # A window inside one day.
        ("UTC", "12:00", "14:00", utc(10, 11, 59), None),
        ("UTC", "12:00", "14:00", utc(10, 12, 0), utc(10, 14, 0)),
        ("UTC", "12:00", "14:00", utc(10, 13, 59), utc(10, 14, 0)),
        ("UTC", "12:00", "14:00", utc(10, 14, 0), None),
        # Across midnight: before midnight the window ends the next morning.
        ("UTC", "22:00", "07:00", utc(10, 21, 59), None),
        ("UTC", "22:00", "07:00", utc(10, 22, 0), utc(11, 7, 0)),
        ("UTC", "22:00", "07:00", utc(10, 23, 30), utc(11, 7, 0)),
        # After midnight it ends the same morning.
        ("UTC", "22:00", "07:00", utc(11, 0, 15), utc(11, 7, 0)),
        ("UTC", "22:00", "07:00", utc(11, 6, 59), utc(11, 7, 0)),
        ("UTC", "22:00", "07:00", utc(11, 7, 0), None),
        # Tokyo is UTC+9: 09:00 UTC is 18:00 there, inside 17:00-08:00.
        ("Asia/Tokyo", "17:00", "08:00", utc(10, 9, 0), utc(10, 23, 0)),
        ("Asia/Tokyo", "17:00", "08:00", utc(10, 7, 59), None),
        # New York is UTC-4 after 8 March 2026: 03:00 UTC on the 10th is 23:00 on the 9th.
        ("America/New_York", "22:00", "06:00", utc(10, 3, 0), utc(10, 10, 0)),
    ],
)
def test_quiet_hours_window(
    zone: str, start: str, end: str, at: datetime, expected: datetime | None
) -> None:
    assert window(zone, start, end).until(at) == expected


def test_quiet_hours_end_across_dst_change() -> None:
    # Berlin moves from UTC+1 to UTC+2 at 02:00 local on 29 March 2026. A window from
    # 22:00 to 07:00 starting on the 28th ends at 07:00 summer time, 05:00 UTC.
    quiet = window("Europe/Berlin", "22:00", "07:00")

    assert quiet.until(datetime(2026, 3, 28, 22, 0, tzinfo=UTC)) == datetime(
        2026, 3, 29, 5, 0, tzinfo=UTC
    )


async def test_quiet_hours_delay_email_not_inbox(
    db: Database, ctx: Context, clock: FrozenClock, make_user
) -> None:
    # The clock reads 09:00 UTC; in Lagos (UTC+1) that is 10:00, inside 09:30-11:00.
    staff = await make_user("supervisor")
    await set_preferences(
        db,
        ctx,
        staff.email,
        None,
        timezone="Africa/Lagos",
        quiet_hours_start="09:30",
        quiet_hours_end="11:00",
    )
    user_id = await user_id_of(db, staff.email)
    ticket_id = await create_ticket(db, ctx)

    await notify(
        db, ctx, ticket_id=ticket_id, event_type="escalation.triggered", recipients=[[staff.email]]
    )

    deliveries = await deliveries_of(db, user_id)
    assert deliveries["inbox"].status == "sent"
    assert len(await inbox_of(db, user_id)) == 1
    assert deliveries["email"].status == "pending"
    assert deliveries["email"].next_attempt_at == utc(10, 10, 0)
    assert await next_notification_at(db) == utc(10, 10, 0)

    async with httpx_client() as client:
        assert await send_due_notifications(db, ctx, client, owner=OWNER) == 0
        clock.set(utc(10, 10, 0))
        assert await send_due_notifications(db, ctx, client, owner=OWNER) == 1

    # No SMTP server is configured, so the e-mail is skipped once its time came.
    email = (await deliveries_of(db, user_id))["email"]
    assert email.status == "skipped"


async def test_quiet_hours_across_midnight_elsewhere(
    db: Database, ctx: Context, clock: FrozenClock, make_user
) -> None:
    tokyo = await make_user("supervisor")
    london = await make_user("supervisor")
    for staff, zone in ((tokyo, "Asia/Tokyo"), (london, "Europe/London")):
        await set_preferences(
            db,
            ctx,
            staff.email,
            {"*": ["inbox"], "escalation.triggered": ["slack"]},
            timezone=zone,
            quiet_hours_start="17:00",
            quiet_hours_end="08:00",
            slack_webhook_url="https://hooks.slack.example/services/T1/B1/x",
        )
    ticket_id = await create_ticket(db, ctx)

    await notify(
        db,
        ctx,
        ticket_id=ticket_id,
        event_type="escalation.triggered",
        recipients=[[tokyo.email, london.email]],
    )

    # 09:00 UTC: 18:00 in Tokyo (quiet until 08:00 there, 23:00 UTC), 09:00 in London.
    tokyo_slack = (await deliveries_of(db, await user_id_of(db, tokyo.email)))["slack"]
    london_slack = (await deliveries_of(db, await user_id_of(db, london.email)))["slack"]
    assert tokyo_slack.next_attempt_at == utc(10, 23, 0)
    assert london_slack.next_attempt_at == clock.now()


async def test_urgent_bypass_needs_setting(db: Database, ctx: Context, make_user) -> None:
    staff = await make_user("supervisor")
    await set_preferences(
        db,
        ctx,
        staff.email,
        None,
        timezone="UTC",
        quiet_hours_start="08:00",
        quiet_hours_end="12:00",
    )
    user_id = await user_id_of(db, staff.email)
    urgent_ticket = await create_ticket(db, ctx, priority="urgent")
    bypassing = with_settings(ctx, notification_quiet_hours_bypass_priorities=["urgent"])

    await notify(
        db,
        ctx,
        ticket_id=urgent_ticket,
        event_type="escalation.triggered",
        recipients=[[staff.email]],
    )
    held_email = (await deliveries_of(db, user_id))["email"]
    assert held_email.next_attempt_at == utc(10, 12, 0)

    other_ticket = await create_ticket(db, ctx, priority="urgent")
    await notify(
        db,
        bypassing,
        ticket_id=other_ticket,
        event_type="sla.breached",
        recipients=[[staff.email]],
    )
    async with db.read() as session:
        rows = await deliveries_by_ticket(session, user_id)
    assert rows[other_ticket] == ctx.clock.now()


async def test_quiet_hours_set_later_defer_claim(
    db: Database, ctx: Context, clock: FrozenClock, make_user
) -> None:
    staff = await make_user("supervisor")
    user_id = await user_id_of(db, staff.email)
    ticket_id = await create_ticket(db, ctx)
    await notify(
        db, ctx, ticket_id=ticket_id, event_type="escalation.triggered", recipients=[[staff.email]]
    )
    # The person turns quiet hours on before the worker gets to the e-mail.
    await set_preferences(
        db,
        ctx,
        staff.email,
        None,
        timezone="UTC",
        quiet_hours_start="08:30",
        quiet_hours_end="09:30",
    )

    async with httpx_client() as client:
        assert await send_due_notifications(db, ctx, client, owner=OWNER) == 0

    email = (await deliveries_of(db, user_id))["email"]
    assert email.status == "pending"
    assert email.next_attempt_at == clock.now().replace(minute=30)
    assert email.lease_owner is None


# Helpers ---------------------------------------------------------------------------------


def httpx_client() -> httpx.AsyncClient:
    return httpx.AsyncClient(trust_env=False)


async def deliveries_by_ticket(session: AsyncSession, user_id: int) -> dict[int, datetime]:
    """Return when each ticket's e-mail to the user is due."""
    rows = await session.execute(
        select(OutboxEvent.ticket_id, NotificationDelivery.next_attempt_at)
        .join(OutboxEvent, OutboxEvent.id == NotificationDelivery.event_id)
        .where(NotificationDelivery.user_id == user_id, NotificationDelivery.channel == "email")
    )
    return {ticket_id: next_at for ticket_id, next_at in rows if ticket_id is not None}
