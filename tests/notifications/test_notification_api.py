"""The signed-in user's notification preferences and inbox over the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from notification_support import create_ticket, notify, user_id_of
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.notifications.models import NotificationPreference

PREFERENCES = "/api/v1/me/notification-preferences"
INBOX = "/api/v1/me/notifications"
SLACK_URL = "https://hooks.slack.example/services/T000/B000/XXXX"
TEAMS_URL = "https://example.webhook.office.com/webhookb2/abc"

VALID: dict[str, Any] = {
    "channels": {"*": ["inbox"], "escalation.triggered": ["email", "slack", "teams"]},
    "timezone": "Europe/Berlin",
    "quiet_hours_start": "22:00",
    "quiet_hours_end": "07:00",
    "slack_webhook_url": SLACK_URL,
    "teams_webhook_url": TEAMS_URL,
}


async def test_defaults_until_saved(client: httpx.AsyncClient, make_user) -> None:
    staff = await make_user("agent")

    response = await client.get(PREFERENCES, headers=staff.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["using_defaults"] is True
    assert body["channels"] == {
        "*": ["inbox"],
        "escalation.triggered": ["email"],
        "sla.breached": ["email"],
    }
    assert body["timezone"] is None
    assert body["slack_webhook_url"] is None


async def test_save_and_read_back(client: httpx.AsyncClient, db: Database, make_user) -> None:
    staff = await make_user("technician")

    saved = await client.put(PREFERENCES, json=VALID, headers=staff.headers)

    assert saved.status_code == 200, saved.text
    body = (await client.get(PREFERENCES, headers=staff.headers)).json()
    assert body == saved.json()
    assert body["using_defaults"] is False
    assert body["channels"] == VALID["channels"]
    assert body["quiet_hours_start"] == "22:00"
    assert body["slack_webhook_url"] == SLACK_URL
    async with db.read() as session:
        rows = (
            await session.execute(
                select(NotificationPreference.event_type, NotificationPreference.channel).where(
                    NotificationPreference.user_id == await user_id_of(db, staff.email)
                )
            )
        ).all()
    assert sorted(rows) == [
        ("*", "inbox"),
        ("escalation.triggered", "email"),
        ("escalation.triggered", "slack"),
        ("escalation.triggered", "teams"),
    ]


async def test_null_channels_restore_defaults(client: httpx.AsyncClient, make_user) -> None:
    staff = await make_user("agent")
    await client.put(PREFERENCES, json=VALID, headers=staff.headers)

    response = await client.put(PREFERENCES, json={"channels": None}, headers=staff.headers)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["using_defaults"] is True
    assert body["channels"]["escalation.triggered"] == ["email"]
    # Fields left out of a PUT are cleared.
    assert body["timezone"] is None
    assert body["slack_webhook_url"] is None


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"timezone": "CEST"}, "timezone", "unknown time zone"),
        ({"quiet_hours_start": "24:00"}, "quiet_hours_start", "expected HH:MM"),
        ({"quiet_hours_end": "7:00"}, "quiet_hours_end", "expected HH:MM"),
        ({"quiet_hours_end": "07:00\n"}, "quiet_hours_end", "expected HH:MM"),
        ({"quiet_hours_end": None}, "quiet_hours_end", "set both"),
        ({"quiet_hours_end": "22:00"}, "quiet_hours_end", "must differ"),
        ({"timezone": None}, "timezone", "required with quiet hours"),
        ({"slack_webhook_url": "not a url"}, "slack_webhook_url", "URL"),
        ({"teams_webhook_url": "ftp://example.com/hook"}, "teams_webhook_url", "scheme"),
        ({"slack_webhook_url": None}, "slack_webhook_url", "required while slack"),
        ({"teams_webhook_url": "http://169.254.169.254/x"}, "teams_webhook_url", "metadata"),
        ({"slack_webhook_url": "http://localhost:8000/x"}, "slack_webhook_url", "localhost"),
        ({"channels": {"*": ["pager"]}}, "channels.*", "unknown channel 'pager'"),
        ({"channels": {"ticket.exploded": ["inbox"]}}, "channels.ticket.exploded", "unknown event"),
        ({"channels": {}}, "channels", "no channel chosen"),
        ({"channels": {"*": []}}, "channels", "no channel chosen"),
        ({"volume": 11}, "volume", "unknown field"),
    ],
)
async def test_invalid_preferences_rejected(
    client: httpx.AsyncClient, make_user, change: dict[str, Any], field: str, words: str
) -> None:
    staff = await make_user("agent")
    body = {**VALID, **change}

    response = await client.put(PREFERENCES, json=body, headers=staff.headers)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    messages = {item["field"]: item["message"] for item in error.get("fields", [])}
    assert field in messages, error
    assert words in messages[field]
    # Nothing was saved.
    after = (await client.get(PREFERENCES, headers=staff.headers)).json()
    assert after["using_defaults"] is True


async def test_channels_field_is_required(client: httpx.AsyncClient, make_user) -> None:
    staff = await make_user("agent")

    response = await client.put(PREFERENCES, json={"timezone": "UTC"}, headers=staff.headers)

    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "channels"


async def test_routes_need_a_token(client: httpx.AsyncClient) -> None:
    for method, path in (("GET", PREFERENCES), ("GET", INBOX), ("POST", f"{INBOX}/1/read")):
        response = await client.request(method, path)
        assert response.status_code == 401, (method, path)


# The inbox ---------------------------------------------------------------------------------


async def test_inbox_newest_first_paged(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock, make_user
) -> None:
    staff = await make_user("supervisor")
    other = await make_user("supervisor")
    ticket_id = await create_ticket(db, ctx)
    for _ in range(3):
        await notify(
            db,
            ctx,
            ticket_id=ticket_id,
            event_type="automation.rule_ran",
            recipients=[[staff.email, other.email]],
        )
        clock.advance(timedelta(minutes=1))

    first = await client.get(INBOX, params={"limit": 2}, headers=staff.headers)

    assert first.status_code == 200, first.text
    page = first.json()
    assert page["unread_count"] == 3
    assert len(page["items"]) == 2
    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids, reverse=True)
    assert page["items"][0]["ticket"] == f"SR-{ticket_id:06d}"
    assert page["items"][0]["title"] == "Test notice"
    assert page["next_cursor"]

    second = await client.get(
        INBOX, params={"limit": 2, "cursor": page["next_cursor"]}, headers=staff.headers
    )
    rest = second.json()
    assert len(rest["items"]) == 1
    assert rest["items"][0]["id"] < ids[-1]
    assert rest["next_cursor"] is None


async def test_mark_read(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock, make_user
) -> None:
    staff = await make_user("supervisor")
    ticket_id = await create_ticket(db, ctx)
    for _ in range(2):
        await notify(
            db,
            ctx,
            ticket_id=ticket_id,
            event_type="automation.rule_ran",
            recipients=[[staff.email]],
        )
    items = (await client.get(INBOX, headers=staff.headers)).json()["items"]
    first_read_at = clock.now()

    read = await client.post(f"{INBOX}/{items[0]['id']}/read", headers=staff.headers)

    assert read.status_code == 200, read.text
    assert read.json()["read_at"] is not None
    clock.advance(timedelta(minutes=5))
    again = await client.post(f"{INBOX}/{items[0]['id']}/read", headers=staff.headers)
    assert again.json()["read_at"] == read.json()["read_at"]
    assert read.json()["read_at"].startswith(first_read_at.strftime("%Y-%m-%dT%H:%M"))
    unread = (await client.get(INBOX, params={"unread": "true"}, headers=staff.headers)).json()
    assert [item["id"] for item in unread["items"]] == [items[1]["id"]]
    assert unread["unread_count"] == 1


async def test_others_notifications_not_found(
    client: httpx.AsyncClient, db: Database, ctx: Context, make_user
) -> None:
    owner = await make_user("supervisor")
    intruder = await make_user("agent")
    ticket_id = await create_ticket(db, ctx)
    await notify(
        db, ctx, ticket_id=ticket_id, event_type="automation.rule_ran", recipients=[[owner.email]]
    )
    [item] = (await client.get(INBOX, headers=owner.headers)).json()["items"]

    response = await client.post(f"{INBOX}/{item['id']}/read", headers=intruder.headers)

    assert response.status_code == 404
    assert (await client.get(INBOX, headers=intruder.headers)).json()["items"] == []
    missing = await client.post(f"{INBOX}/999999/read", headers=owner.headers)
    assert missing.status_code == 404


async def test_invalid_cursor_rejected(client: httpx.AsyncClient, make_user) -> None:
    staff = await make_user("agent")

    response = await client.get(INBOX, params={"cursor": "%%%"}, headers=staff.headers)

    assert response.status_code == 422


@pytest.mark.parametrize(
    "cursor",
    [
        # base64 of 2**63, one past the largest row id, and of 0 and -5.
        "OTIyMzM3MjAzNjg1NDc3NTgwOA",
        "MA",
        "LTU",
    ],
)
async def test_cursor_outside_key_range_rejected(
    client: httpx.AsyncClient, make_user, cursor: str
) -> None:
    staff = await make_user("agent")

    response = await client.get(INBOX, params={"cursor": cursor}, headers=staff.headers)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["fields"] == [{"field": "cursor", "message": "invalid cursor"}]


@pytest.mark.parametrize("notification_id", ["0", "9223372036854775808"])
async def test_read_id_outside_key_range_rejected(
    client: httpx.AsyncClient, make_user, notification_id: str
) -> None:
    staff = await make_user("agent")

    response = await client.post(f"{INBOX}/{notification_id}/read", headers=staff.headers)

    assert response.status_code == 422, response.text
    assert [entry["field"] for entry in response.json()["error"]["fields"]] == ["notification_id"]
