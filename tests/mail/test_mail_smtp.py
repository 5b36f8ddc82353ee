"""Outgoing mail against an SMTP server that each test starts on 127.0.0.1."""

from __future__ import annotations

import socket
from datetime import timedelta

from mail_support import REQUESTER, SUPPORT, compose, messages_of
from smtp_support import SmtpServer, with_smtp
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.mail.jobs import (
    LEASE_MARGIN_SECONDS,
    claim_mail,
    next_mail_at,
    queue_mail,
    record_attempt,
    run_mail_jobs,
)
from opsdesk.mail.models import MailDelivery
from opsdesk.mail.service import IngestOutcome, IngestResult, ingest_message
from opsdesk.tickets import service as tickets

OWNER = "test-worker"


def closed_port() -> int:
    """Return a loopback port that nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def ingest(db: Database, ctx: Context, raw: bytes) -> IngestResult:
    async with db.transaction() as session:
        return await ingest_message(session, ctx, raw)


async def deliveries(db: Database) -> list[MailDelivery]:
    async with db.read() as session:
        rows = await session.execute(select(MailDelivery).order_by(MailDelivery.id))
        return list(rows.scalars())


async def test_acknowledgement_arrives_and_reply_threads(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    created = await ingest(db, mailing, compose())

    worked = await run_mail_jobs(db, mailing, owner=OWNER)

    assert worked == 2
    [ack] = smtp_server.inbox.messages
    assert ack["Subject"] == "[SR-000001] Inverter beeps and shuts down"
    assert ack["To"] == REQUESTER
    assert ack["From"] == f"Brightline Support <{SUPPORT}>"
    assert ack["Message-ID"].startswith("<SR-000001.")
    assert ack["Message-ID"].endswith("@brightline.example>")
    assert ack["In-Reply-To"] == "<first@mail.example>"
    assert ack["Auto-Submitted"] == "auto-replied"
    assert "recorded your request as SR-000001" in ack.get_content()
    [delivery] = await deliveries(db)
    assert delivery.status == "sent"
    assert delivery.attempt_count == 1
    assert delivery.message_id == ack["Message-ID"]

    reply = compose(
        subject=f"Re: {ack['Subject']}",
        body="Thanks, Tuesday works.\n\n> Thank you for contacting us.\n",
        message_id="<reply@mail.example>",
        in_reply_to=ack["Message-ID"],
        references=f"<first@mail.example> {ack['Message-ID']}",
    )
    result = await ingest(db, mailing, reply)

    assert result.outcome is IngestOutcome.THREADED
    assert result.reference == created.reference
    assert created.ticket_id is not None
    messages = await messages_of(db, created.ticket_id)
    assert messages[-1].body == "Thanks, Tuesday works."


async def test_reply_by_message_id_alone_threads(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    created = await ingest(db, mailing, compose())
    await run_mail_jobs(db, mailing, owner=OWNER)
    [ack] = smtp_server.inbox.messages

    result = await ingest(
        db,
        mailing,
        compose(
            subject="Re: my request",
            message_id="<reply@mail.example>",
            in_reply_to=ack["Message-ID"],
        ),
    )

    assert result.outcome is IngestOutcome.THREADED
    assert result.reference == created.reference


async def test_agent_reply_mailed_in_thread(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    created = await ingest(db, mailing, compose())
    await run_mail_jobs(db, mailing, owner=OWNER)
    [ack] = smtp_server.inbox.messages
    async with db.transaction() as session:
        ticket = await session.get(tickets.Ticket, created.ticket_id)
        assert ticket is not None
        await tickets.add_agent_reply(
            session, mailing, ticket, author=None, body="We can come on Tuesday.", public=True
        )
        await tickets.add_agent_reply(
            session, mailing, ticket, author=None, body="Internal: bring a fuse.", public=False
        )

    await run_mail_jobs(db, mailing, owner=OWNER)

    [_, reply] = smtp_server.inbox.messages
    assert reply["Subject"] == "Re: [SR-000001] Inverter beeps and shuts down"
    assert reply["In-Reply-To"] == ack["Message-ID"]
    assert reply["References"].split() == ["<first@mail.example>", ack["Message-ID"]]
    assert reply["Auto-Submitted"] is None
    assert reply.get_content().splitlines()[0] == "We can come on Tuesday."
    assert "bring a fuse" not in reply.get_content()


async def test_no_mail_without_smtp(db: Database, ctx: Context, smtp_server: SmtpServer) -> None:
    assert ctx.settings.smtp_host is None
    await ingest(db, ctx, compose())

    worked = await run_mail_jobs(db, ctx, owner=OWNER)

    assert worked == 0
    assert smtp_server.inbox.messages == []
    assert await deliveries(db) == []


async def test_temporary_failure_retried_later(
    db: Database, ctx: Context, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    await ingest(db, mailing, compose())
    smtp_server.inbox.refusals.append("451 4.3.0 Try again later")

    await run_mail_jobs(db, mailing, owner=OWNER)

    [delivery] = await deliveries(db)
    assert delivery.status == "pending"
    assert delivery.attempt_count == 1
    assert delivery.last_error is not None
    assert "451" in delivery.last_error
    assert delivery.next_attempt_at > clock.now()
    assert await next_mail_at(db) == delivery.next_attempt_at
    assert smtp_server.inbox.messages == []

    assert await run_mail_jobs(db, mailing, owner=OWNER) == 0
    clock.set(delivery.next_attempt_at)
    await run_mail_jobs(db, mailing, owner=OWNER)

    [sent] = await deliveries(db)
    assert sent.status == "sent"
    assert sent.attempt_count == 2
    assert sent.last_error is None
    [ack] = smtp_server.inbox.messages
    assert ack["Message-ID"] == delivery.message_id
    assert await next_mail_at(db) is None


async def test_unreachable_server_retried(db: Database, ctx: Context, clock: FrozenClock) -> None:
    mailing = with_smtp(ctx, closed_port())
    await ingest(db, mailing, compose())

    await run_mail_jobs(db, mailing, owner=OWNER)

    [delivery] = await deliveries(db)
    assert delivery.status == "pending"
    assert delivery.attempt_count == 1
    assert delivery.last_error is not None
    assert delivery.next_attempt_at > clock.now()


async def test_permanent_refusal_not_retried(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    await ingest(db, mailing, compose())
    smtp_server.inbox.refusals.append("550 5.1.1 Mailbox does not exist")

    await run_mail_jobs(db, mailing, owner=OWNER)

    [delivery] = await deliveries(db)
    assert delivery.status == "failed"
    assert delivery.attempt_count == 1
    assert delivery.last_error is not None
    assert "550" in delivery.last_error
    assert await next_mail_at(db) is None


async def test_retries_end_after_span(db: Database, ctx: Context, smtp_server: SmtpServer) -> None:
    mailing = with_smtp(ctx, smtp_server.port, mail_retry_span_seconds=10)
    await ingest(db, mailing, compose())
    smtp_server.inbox.refusals.append("421 4.4.2 Connection dropped")

    await run_mail_jobs(db, mailing, owner=OWNER)

    [delivery] = await deliveries(db)
    assert delivery.status == "failed"
    assert delivery.last_error is not None
    assert "421" in delivery.last_error


async def test_leased_mail_claimed_once(
    db: Database, ctx: Context, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    await ingest(db, mailing, compose())
    await queue_mail(db, mailing)

    first_claim = await claim_mail(db, mailing, owner="worker-a", limit=10)
    second_claim = await claim_mail(db, mailing, owner="worker-b", limit=10)
    lease = mailing.settings.smtp_timeout_seconds + LEASE_MARGIN_SECONDS
    clock.advance(timedelta(seconds=lease + 1))
    after_lease = await claim_mail(db, mailing, owner="worker-b", limit=10)
    stale = await record_attempt(
        db,
        mailing,
        first_claim[0],
        owner="worker-a",
        started_at=clock.now(),
        error=None,
        permanent=False,
    )

    assert len(first_claim) == 1
    assert second_claim == []
    assert [item.id for item in after_lease] == [first_claim[0].id]
    assert stale == "lease_expired"
    [delivery] = await deliveries(db)
    assert delivery.status == "pending"
    assert delivery.lease_owner == "worker-b"


async def test_channel_not_acknowledged(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port, mail_acknowledge_channels=["portal"])
    await ingest(db, mailing, compose())

    await run_mail_jobs(db, mailing, owner=OWNER)

    [delivery] = await deliveries(db)
    assert delivery.status == "skipped"
    assert delivery.last_error == "tickets from channel email are not acknowledged by mail"
    assert smtp_server.inbox.messages == []


async def test_old_events_not_mailed(
    db: Database, ctx: Context, clock: FrozenClock, smtp_server: SmtpServer
) -> None:
    await ingest(db, ctx, compose())
    mailing = with_smtp(ctx, smtp_server.port)
    clock.advance(timedelta(seconds=mailing.settings.mail_max_event_age_seconds + 1))

    worked = await run_mail_jobs(db, mailing, owner=OWNER)

    assert worked == 0
    assert smtp_server.inbox.messages == []
