"""Sending notifications to a Slack and Teams receiver and an SMTP server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import email
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import policy
from email.message import EmailMessage

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from notification_support import (
    OWNER,
    Receiver,
    Reply,
    create_ticket,
    deliveries_of,
    notify,
    set_preferences,
    user_id_of,
    with_settings,
)

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.notifications.jobs import send_due_notifications
from opsdesk.webhooks.guard import OutboundGuard, outbound_client

ESCALATION = {
    "reference": "SR-000001",
    "escalation": "call_the_boss",
    "name": "Call the boss",
    "level": "breach",
    "metric": "first_response",
    "summary": "priority raised from high to urgent; notified 1 supervisor(s)",
    "priority": "urgent",
    "acknowledge_url": "http://testserver/ack/token",
}


async def notify_escalation(db: Database, ctx: Context, emails: list[str]) -> str:
    ticket_id = await create_ticket(db, ctx)
    return await notify(
        db,
        ctx,
        ticket_id=ticket_id,
        event_type="escalation.triggered",
        recipients=[emails],
        data=ESCALATION,
    )


async def wants_only(db: Database, ctx: Context, email: str, channel: str, url: str) -> None:
    """Make escalations reach this person on one webhook channel only."""
    await set_preferences(
        db, ctx, email, {"escalation.triggered": [channel]}, **{f"{channel}_webhook_url": url}
    )


async def test_slack_and_teams_bodies_arrive(
    db: Database, ctx: Context, make_user, receiver: Receiver, outbound: httpx.AsyncClient
) -> None:
    staff = await make_user("supervisor")
    await set_preferences(
        db,
        ctx,
        staff.email,
        {"escalation.triggered": ["slack", "teams"]},
        slack_webhook_url=receiver.url("/slack"),
        teams_webhook_url=receiver.url("/teams"),
    )
    await notify_escalation(db, ctx, [staff.email])

    assert await send_due_notifications(db, ctx, outbound, owner=OWNER) == 2

    by_path = {request.path: request for request in receiver.requests}
    assert sorted(by_path) == ["/slack", "/teams"]
    slack = by_path["/slack"].json()
    assert set(slack) == {"text"}
    assert "Escalation Call the boss ran on SR-000001" in slack["text"]
    assert "<http://testserver/console/tickets/SR-000001|" in slack["text"]
    assert "<http://testserver/ack/token|Acknowledge>" in slack["text"]
    teams = by_path["/teams"].json()
    assert teams["type"] == "message"
    [attachment] = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["body"][0]["text"] == "Escalation Call the boss ran on SR-000001"
    assert {"title": "Priority", "value": "urgent"} in card["body"][2]["facts"]
    assert [action["url"] for action in card["actions"]] == [
        "http://testserver/console/tickets/SR-000001",
        "http://testserver/ack/token",
    ]
    assert by_path["/teams"].headers["content-type"] == "application/json"

    deliveries = await deliveries_of(db, await user_id_of(db, staff.email))
    assert deliveries["slack"].status == "sent"
    assert deliveries["teams"].status == "sent"
    assert deliveries["teams"].attempt_count == 1
    assert deliveries["teams"].completed_at == ctx.clock.now()


async def test_missing_addresses_are_skipped(
    db: Database, ctx: Context, make_user, receiver: Receiver, outbound: httpx.AsyncClient
) -> None:
    staff = await make_user("supervisor")
    # Stored without URLs (the API would refuse this), and SMTP is not configured.
    channels = {"escalation.triggered": ["email", "slack", "teams"]}
    await set_preferences(db, ctx, staff.email, channels)
    await notify_escalation(db, ctx, [staff.email])

    assert await send_due_notifications(db, ctx, outbound, owner=OWNER) == 3

    deliveries = await deliveries_of(db, await user_id_of(db, staff.email))
    assert {channel: row.status for channel, row in deliveries.items()} == {
        "email": "skipped",
        "slack": "skipped",
        "teams": "skipped",
    }
    assert (deliveries["email"].last_error or "").startswith("SMTP not configured")
    assert "no Slack webhook URL" in (deliveries["slack"].last_error or "")
    assert "no Teams webhook URL" in (deliveries["teams"].last_error or "")
    assert deliveries["slack"].attempt_count == 0
    assert receiver.requests == []


async def test_transient_failure_is_retried(
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    make_user,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    staff = await make_user("supervisor")
    await wants_only(db, ctx, staff.email, "slack", receiver.url("/s"))
    await notify_escalation(db, ctx, [staff.email])
    receiver.script(Reply(status=503, body=b"try later"), Reply(status=200))
    user_id = await user_id_of(db, staff.email)

    await send_due_notifications(db, ctx, outbound, owner=OWNER)

    slack = (await deliveries_of(db, user_id))["slack"]
    assert slack.status == "pending"
    assert slack.attempt_count == 1
    assert slack.last_error == "HTTP 503: try later"
    assert slack.lease_owner is None
    # The first retry waits 15 to 30 s.
    assert clock.now() + timedelta(seconds=15) <= slack.next_attempt_at
    assert slack.next_attempt_at <= clock.now() + timedelta(seconds=30)
    assert await send_due_notifications(db, ctx, outbound, owner=OWNER) == 0

    clock.set(slack.next_attempt_at)
    assert await send_due_notifications(db, ctx, outbound, owner=OWNER) == 1

    slack = (await deliveries_of(db, user_id))["slack"]
    assert slack.status == "sent"
    assert slack.attempt_count == 2
    assert slack.last_error is None
    assert len(receiver.requests) == 2


async def test_retry_after_is_honoured(
    db: Database, ctx: Context, make_user, receiver: Receiver, outbound: httpx.AsyncClient
) -> None:
    staff = await make_user("supervisor")
    await wants_only(db, ctx, staff.email, "slack", receiver.url("/s"))
    await notify_escalation(db, ctx, [staff.email])
    receiver.script(Reply(status=429, headers={"retry-after": "600"}))

    await send_due_notifications(db, ctx, outbound, owner=OWNER)

    slack = (await deliveries_of(db, await user_id_of(db, staff.email)))["slack"]
    assert slack.status == "pending"
    assert slack.next_attempt_at >= ctx.clock.now() + timedelta(seconds=600)


async def test_teams_throttle_text_is_retried(
    db: Database, ctx: Context, make_user, receiver: Receiver, outbound: httpx.AsyncClient
) -> None:
    staff = await make_user("supervisor")
    await wants_only(db, ctx, staff.email, "teams", receiver.url("/t"))
    await notify_escalation(db, ctx, [staff.email])
    receiver.script(Reply(status=200, body=b"Microsoft Teams endpoint returned HTTP error 429"))

    await send_due_notifications(db, ctx, outbound, owner=OWNER)

    teams = (await deliveries_of(db, await user_id_of(db, staff.email)))["teams"]
    assert teams.status == "pending"
    assert "HTTP error 429" in (teams.last_error or "")


async def test_permanent_failure_is_not_retried(
    db: Database, ctx: Context, make_user, receiver: Receiver, outbound: httpx.AsyncClient
) -> None:
    staff = await make_user("supervisor")
    await wants_only(db, ctx, staff.email, "slack", receiver.url("/s"))
    await notify_escalation(db, ctx, [staff.email])
    receiver.script(Reply(status=404, body=b"no_service"))

    await send_due_notifications(db, ctx, outbound, owner=OWNER)

    slack = (await deliveries_of(db, await user_id_of(db, staff.email)))["slack"]
    assert slack.status == "failed"
    assert slack.last_error == "HTTP 404: no_service"


async def test_retries_stop_after_span(
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    make_user,
    receiver: Receiver,
    outbound: httpx.AsyncClient,
) -> None:
    short = with_settings(ctx, notification_retry_span_seconds=40)
    staff = await make_user("supervisor")
    await wants_only(db, ctx, staff.email, "slack", receiver.url("/s"))
    await notify_escalation(db, short, [staff.email])
    receiver.script(*[Reply(status=500, body=b"")] * 3)
    user_id = await user_id_of(db, staff.email)

    await send_due_notifications(db, short, outbound, owner=OWNER)
    slack = (await deliveries_of(db, user_id))["slack"]
    assert slack.status == "pending"
    clock.set(slack.next_attempt_at)
    # The first retry came 15 to 30 s after the start; the next would wait 30 to 60 s
    # more, past the 40 s span.
    await send_due_notifications(db, short, outbound, owner=OWNER)

    slack = (await deliveries_of(db, user_id))["slack"]
    assert slack.status == "failed"
    assert slack.attempt_count == 2
    assert slack.last_error == "HTTP 500"


async def test_internal_address_is_refused(db: Database, ctx: Context, make_user) -> None:
    staff = await make_user("supervisor")
    await set_preferences(
        db,
        ctx,
        staff.email,
        {"escalation.triggered": ["slack"]},
        slack_webhook_url="http://127.0.0.1:9/hook",
    )
    await notify_escalation(db, ctx, [staff.email])

    # The guard of the default settings allows no loopback address.
    async with outbound_client(ctx.settings, guard=OutboundGuard.from_entries([])) as client:
        await send_due_notifications(db, ctx, client, owner=OWNER)

    slack = (await deliveries_of(db, await user_id_of(db, staff.email)))["slack"]
    assert slack.status == "failed"
    assert "destination refused" in (slack.last_error or "")
    assert "loopback" in (slack.last_error or "")


# E-mail ---------------------------------------------------------------------------------


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps accepted messages and can refuse the first ones."""

    messages: list[EmailMessage] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        content = envelope.original_content or envelope.content
        assert isinstance(content, bytes)
        message = email.message_from_bytes(content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 2.0.0 Message accepted"


@dataclass(frozen=True)
class SmtpServer:
    mailbox: Mailbox
    port: int


@pytest.fixture
async def smtp_server() -> AsyncIterator[SmtpServer]:
    mailbox = Mailbox()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(mailbox, hostname="mail.test", timeout=10), "127.0.0.1", 0
    )
    try:
        yield SmtpServer(mailbox=mailbox, port=server.sockets[0].getsockname()[1])
    finally:
        server.close()
        await server.wait_closed()


def mailing(ctx: Context, port: int) -> Context:
    return with_settings(
        ctx,
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_security="none",
        smtp_timeout_seconds=10.0,
        mail_from="Opsdesk <desk@example.com>",
    )


async def test_email_arrives(
    db: Database, ctx: Context, make_user, smtp_server: SmtpServer, outbound: httpx.AsyncClient
) -> None:
    staff = await make_user("supervisor")
    mail_ctx = mailing(ctx, smtp_server.port)
    event_id = await notify_escalation(db, mail_ctx, [staff.email])

    assert await send_due_notifications(db, mail_ctx, outbound, owner=OWNER) == 1

    [message] = smtp_server.mailbox.messages
    assert message["To"] == staff.email
    assert message["From"] == "Opsdesk <desk@example.com>"
    assert message["Subject"] == "Escalation Call the boss ran on SR-000001"
    assert message["Auto-Submitted"] == "auto-generated"
    assert event_id in message["Message-ID"]
    body = message.get_content()
    assert "priority raised from high to urgent" in body
    assert "Acknowledge: http://testserver/ack/token" in body
    assert "Open the ticket: http://testserver/console/tickets/SR-000001" in body
    delivery = (await deliveries_of(db, await user_id_of(db, staff.email)))["email"]
    assert delivery.status == "sent"


async def test_email_temporary_refusal_retried(
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    make_user,
    smtp_server: SmtpServer,
    outbound: httpx.AsyncClient,
) -> None:
    staff = await make_user("supervisor")
    mail_ctx = mailing(ctx, smtp_server.port)
    await notify_escalation(db, mail_ctx, [staff.email])
    smtp_server.mailbox.refusals.append("451 4.3.0 Try again later")
    user_id = await user_id_of(db, staff.email)

    await send_due_notifications(db, mail_ctx, outbound, owner=OWNER)
    delivery = (await deliveries_of(db, user_id))["email"]
    assert delivery.status == "pending"
    assert "451" in (delivery.last_error or "")

    clock.set(delivery.next_attempt_at)
    await send_due_notifications(db, mail_ctx, outbound, owner=OWNER)

    delivery = (await deliveries_of(db, user_id))["email"]
    assert delivery.status == "sent"
    assert len(smtp_server.mailbox.messages) == 1
