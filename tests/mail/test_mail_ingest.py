"""E-mail intake against a real database: the corpus, threading, limits, the route, the CLI."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from mail_support import (
    GROUPS,
    MAIL_SERVICE_TYPE,
    REQUESTER,
    SUPPORT,
    MakeUser,
    attachments_of,
    compose,
    corpus_files,
    corpus_message,
    count_tickets,
    load_ticket,
    messages_of,
)
from sqlalchemy import func, select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import ServiceUnavailable
from opsdesk.events.models import OutboxEvent
from opsdesk.mail.classify import classify
from opsdesk.mail.jobs import queue_mail
from opsdesk.mail.models import MailDelivery
from opsdesk.mail.parse import parse_message
from opsdesk.mail.service import IngestOutcome, IngestResult, ingest_message
from opsdesk.tickets import service as tickets
from opsdesk.workspace.schema import TicketStatus
from support import EXAMPLE_WORKSPACE

OPSDESK = Path(sys.executable).parent / "opsdesk"
COMMAND_TIMEOUT_SECONDS = 120
INBOUND = "/api/v1/inbound/email"
RFC822 = {"Content-Type": "message/rfc822"}


async def ingest(db: Database, ctx: Context, raw: bytes) -> IngestResult:
    async with db.transaction() as session:
        return await ingest_message(session, ctx, raw)


def with_settings(ctx: Context, **changes: object) -> Context:
    settings = ctx.settings.model_copy(update=changes)
    return dataclasses.replace(ctx, settings=settings)


async def count_events(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(OutboxEvent))).scalar_one()


async def close_ticket(db: Database, ctx: Context, ticket_id: int) -> None:
    async with db.transaction() as session:
        ticket = await session.get(tickets.Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(
            session, ctx, ticket, status=TicketStatus.CLOSED, actor="system"
        )


# The corpus --------------------------------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", corpus_files(*GROUPS))
async def test_corpus_file_ingests(db: Database, ctx: Context, relative: str) -> None:
    raw = corpus_message(relative)
    parsed = parse_message(raw)

    result = await ingest(db, ctx, raw)

    if not classify(parsed).is_ordinary or parsed.sender is None:
        assert result.outcome is IngestOutcome.IGNORED
        assert await count_tickets(db) == 0
        return
    assert result.outcome is IngestOutcome.CREATED, result.reason
    assert result.ticket_id is not None
    ticket = await load_ticket(db, result.ticket_id)
    assert ticket.channel == "email"
    assert ticket.service_type == MAIL_SERVICE_TYPE
    assert ticket.requester_email == parsed.sender.email.lower()
    assert ticket.description.strip()
    messages = await messages_of(db, ticket.id)
    assert len(messages) == 1
    assert messages[0].email_message_id == parsed.message_id
    stored = await attachments_of(db, ticket.id)
    assert len(stored) == result.attachments
    assert all(item.message_id == messages[0].id for item in stored)


def machine_mail() -> list[str]:
    files = corpus_files("sisimai", "mikel-mail/multipart_report_emails")
    return [relative for relative in files if "is-not-bounce" not in relative]


@pytest.mark.shared_data
@pytest.mark.parametrize("relative", machine_mail())
async def test_machine_mail_creates_nothing(db: Database, ctx: Context, relative: str) -> None:
    result = await ingest(db, ctx, corpus_message(relative))

    assert result.outcome is IngestOutcome.IGNORED
    assert result.reason.split(":")[0] in {"bounce", "auto reply", "feedback report"}
    assert await count_tickets(db) == 0
    assert await count_events(db) == 0


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["is-not-bounce-01.eml", "is-not-bounce-02.eml"])
async def test_not_bounce_creates_ticket(db: Database, ctx: Context, name: str) -> None:
    result = await ingest(db, ctx, corpus_message(f"sisimai/{name}"))

    assert result.outcome is IngestOutcome.CREATED
    assert await count_tickets(db) == 1


@pytest.mark.shared_data
async def test_pdf_attachment_stored(db: Database, ctx: Context) -> None:
    result = await ingest(
        db, ctx, corpus_message("mikel-mail/attachment_emails/attachment_pdf.eml")
    )

    assert result.ticket_id is not None
    stored = await attachments_of(db, result.ticket_id)
    assert [(item.filename, item.content_type) for item in stored] == [
        ("broken.pdf", "application/pdf")
    ]
    assert stored[0].size_bytes == 1026
    assert stored[0].content.startswith(b"%PDF-1.4")


# Creating and threading -----------------------------------------------------------------


async def test_new_mail_creates_ticket(db: Database, ctx: Context) -> None:
    result = await ingest(db, ctx, compose())

    assert result.outcome is IngestOutcome.CREATED
    assert result.reference == "SR-000001"
    assert result.summary() == "created SR-000001"
    assert result.ticket_id is not None
    ticket = await load_ticket(db, result.ticket_id)
    assert ticket.subject == "Inverter beeps and shuts down"
    assert ticket.requester_name == "Ada Obi"
    assert ticket.requester_email == REQUESTER
    assert ticket.description == "Since yesterday the inverter shuts down every hour."
    assert ticket.priority == ctx.workspace.spec.default_priority
    assert ticket.contact_method == "email"


async def test_reference_in_subject_threads(db: Database, ctx: Context) -> None:
    first = await ingest(db, ctx, compose())

    reply = compose(
        subject=f"Re: [{first.reference}] Inverter beeps and shuts down",
        body=(
            "It happened again at noon.\n\n"
            "On Tue, 10 Mar 2026 at 10:00, Ada Obi <ada@example.com> wrote:\n"
            "> Since yesterday the inverter shuts down every hour.\n"
        ),
        message_id="<second@mail.example>",
        attachments=[("meter.txt", "text/plain", b"Meter reading 0412\n")],
    )
    result = await ingest(db, ctx, reply)

    assert result.outcome is IngestOutcome.THREADED
    assert result.reference == first.reference
    assert result.summary() == f"threaded onto {first.reference}"
    assert result.ticket_id is not None
    messages = await messages_of(db, result.ticket_id)
    assert [message.body for message in messages][1] == "It happened again at noon."
    assert messages[1].author_kind == "customer"
    assert messages[1].email_message_id == "<second@mail.example>"
    stored = await attachments_of(db, result.ticket_id)
    assert [(item.filename, item.message_id) for item in stored] == [("meter.txt", messages[1].id)]
    assert await count_tickets(db) == 1


async def test_bare_reference_threads(db: Database, ctx: Context) -> None:
    first = await ingest(db, ctx, compose())

    result = await ingest(
        db,
        ctx,
        compose(subject=f"About {first.reference} again", message_id="<again@mail.example>"),
    )

    assert result.outcome is IngestOutcome.THREADED
    assert result.reference == first.reference


async def test_in_reply_to_sent_mail_threads(db: Database, ctx: Context) -> None:
    first = await ingest(db, ctx, compose())
    assert await queue_mail(db, ctx) == 1
    async with db.read() as session:
        sent_id = (await session.execute(select(MailDelivery.message_id))).scalar_one()
    assert sent_id is not None

    reply = compose(
        subject="Re: your request",
        body="Tuesday morning works for me.",
        message_id="<third@mail.example>",
        in_reply_to=sent_id,
        references=f"<first@mail.example> {sent_id}",
    )
    result = await ingest(db, ctx, reply)

    assert result.outcome is IngestOutcome.THREADED
    assert result.reference == first.reference


async def test_in_reply_to_received_mail_threads(db: Database, ctx: Context) -> None:
    first = await ingest(db, ctx, compose())

    result = await ingest(
        db,
        ctx,
        compose(
            subject="Re: Inverter",
            message_id="<fourth@mail.example>",
            in_reply_to="<first@mail.example>",
        ),
    )

    assert result.outcome is IngestOutcome.THREADED
    assert result.reference == first.reference


async def test_unknown_reference_creates_ticket(db: Database, ctx: Context) -> None:
    await ingest(db, ctx, compose())

    result = await ingest(
        db,
        ctx,
        compose(
            subject="Re: [SR-999999] Old request",
            message_id="<fifth@mail.example>",
            in_reply_to="<unknown@elsewhere.example>",
        ),
    )

    assert result.outcome is IngestOutcome.CREATED
    assert result.reference == "SR-000002"


async def test_closed_ticket_gets_follow_up(db: Database, ctx: Context) -> None:
    first = await ingest(db, ctx, compose())
    assert first.ticket_id is not None
    await close_ticket(db, ctx, first.ticket_id)

    result = await ingest(
        db,
        ctx,
        compose(
            subject=f"Re: [{first.reference}] Inverter",
            body="It is beeping again.",
            message_id="<sixth@mail.example>",
        ),
    )

    assert result.outcome is IngestOutcome.CREATED
    assert result.reference != first.reference
    assert result.ticket_id is not None
    ticket = await load_ticket(db, result.ticket_id)
    assert ticket.description == (
        f"Follow-up to {first.reference}, which is closed.\n\nIt is beeping again."
    )
    assert len(await messages_of(db, first.ticket_id)) == 1


async def test_other_sender_gets_new_ticket(db: Database, ctx: Context) -> None:
    first = await ingest(db, ctx, compose())

    result = await ingest(
        db,
        ctx,
        compose(
            subject=f"Re: [{first.reference}] Inverter",
            body="Please also check the batteries.",
            sender="Tolu Ade <tolu@example.net>",
            message_id="<seventh@mail.example>",
        ),
    )

    assert result.outcome is IngestOutcome.CREATED
    assert result.ticket_id is not None
    ticket = await load_ticket(db, result.ticket_id)
    assert ticket.requester_email == "tolu@example.net"
    assert ticket.description.startswith(f"Refers to {first.reference}; sent by tolu@example.net")


async def test_resolved_ticket_reopens(db: Database, ctx: Context) -> None:
    first = await ingest(db, ctx, compose())
    assert first.ticket_id is not None
    async with db.transaction() as session:
        ticket = await session.get(tickets.Ticket, first.ticket_id)
        assert ticket is not None
        await tickets.change_status(
            session, ctx, ticket, status=TicketStatus.RESOLVED, actor="system"
        )

    result = await ingest(
        db, ctx, compose(subject=f"[{first.reference}]", message_id="<eighth@mail.example>")
    )

    assert result.outcome is IngestOutcome.THREADED
    assert (await load_ticket(db, first.ticket_id)).status == TicketStatus.OPEN


async def test_duplicate_message_id_ignored(db: Database, ctx: Context) -> None:
    await ingest(db, ctx, compose())

    result = await ingest(db, ctx, compose())

    assert result.outcome is IngestOutcome.IGNORED
    assert "already ingested into SR-000001" in result.reason
    assert await count_tickets(db) == 1


async def test_own_address_ignored(db: Database, ctx: Context) -> None:
    result = await ingest(db, ctx, compose(sender=f"Brightline Support <{SUPPORT}>"))

    assert result.outcome is IngestOutcome.IGNORED
    assert "mail loop" in result.reason
    assert await count_tickets(db) == 0


async def test_auto_reply_ignored(db: Database, ctx: Context) -> None:
    result = await ingest(db, ctx, compose(headers={"Auto-Submitted": "auto-replied"}))

    assert result.outcome is IngestOutcome.IGNORED
    assert result.summary() == "ignored: auto reply: Auto-Submitted: auto-replied"
    assert await count_tickets(db) == 0


async def test_forward_keeps_quoted_text(db: Database, ctx: Context) -> None:
    body = (
        "Please see below.\n\n"
        "From: Tenant <tenant@example.com>\nSent: Monday, 9 March 2026 08:00\n"
        "To: Ada Obi\nSubject: No power\n\nThe flat has no power since noon.\n"
    )

    result = await ingest(db, ctx, compose(subject="Fwd: No power", body=body))

    assert result.ticket_id is not None
    ticket = await load_ticket(db, result.ticket_id)
    assert "The flat has no power since noon." in ticket.description


async def test_attachment_limits(db: Database, ctx: Context) -> None:
    limited = with_settings(ctx, mail_attachment_max_files=1, mail_attachment_max_bytes=10)
    raw = compose(
        attachments=[
            ("a.txt", "text/plain", b"small"),
            ("big.pdf", "application/pdf", b"%PDF-1.4 " + bytes(40)),
            ("b.txt", "text/plain", b"also"),
        ]
    )

    result = await ingest(db, limited, raw)

    assert result.attachments == 1
    assert result.ticket_id is not None
    stored = await attachments_of(db, result.ticket_id)
    assert [item.filename for item in stored] == ["a.txt"]
    ticket = await load_ticket(db, result.ticket_id)
    assert "[Attachment big.pdf (49 bytes) was not kept" in ticket.description
    assert "[Attachment b.txt was not kept: only 1 attachments" in ticket.description


async def test_missing_service_type_setting(db: Database, ctx: Context) -> None:
    unset = with_settings(ctx, mail_default_service_type=None)

    with pytest.raises(ServiceUnavailable, match="OPSDESK_MAIL_DEFAULT_SERVICE_TYPE"):
        await ingest(db, unset, compose())


async def test_unknown_service_type_setting(db: Database, ctx: Context) -> None:
    unknown = with_settings(ctx, mail_default_service_type="plumbing")

    with pytest.raises(ServiceUnavailable, match="OPSDESK_MAIL_DEFAULT_SERVICE_TYPE") as error:
        await ingest(db, unknown, compose())

    assert "plumbing" in error.value.message
    assert await count_tickets(db) == 0


async def test_mail_date_does_not_set_creation(
    db: Database, ctx: Context, clock: FrozenClock
) -> None:
    result = await ingest(db, ctx, compose(headers={"Date": "Mon, 1 Jan 2001 00:00:00 +0000"}))

    assert result.ticket_id is not None
    assert (await load_ticket(db, result.ticket_id)).created_at == clock.now()


# The HTTP route --------------------------------------------------------------------------


async def test_route_creates_threads_ignores(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    admin = await make_user("admin")

    created = await client.post(INBOUND, content=compose(), headers=admin.headers | RFC822)
    threaded = await client.post(
        INBOUND,
        content=compose(subject="Re: [SR-000001] Inverter", message_id="<r2@mail.example>"),
        headers=admin.headers | {"Content-Type": "text/plain"},
    )
    ignored = await client.post(
        INBOUND,
        content=compose(headers={"Precedence": "bulk"}, message_id="<r3@mail.example>"),
        headers=admin.headers | RFC822,
    )

    assert created.status_code == 201, created.text
    assert created.json()["outcome"] == "created"
    assert created.json()["reference"] == "SR-000001"
    assert threaded.status_code == 200
    assert threaded.json()["outcome"] == "threaded"
    assert threaded.json()["reference"] == "SR-000001"
    assert ignored.status_code == 200
    assert ignored.json() == {
        "outcome": "ignored",
        "reason": "auto reply: Precedence: bulk",
        "reference": None,
        "attachments": 0,
        "notes": [],
    }


async def test_route_needs_admin(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    agent = await make_user("agent")

    anonymous = await client.post(INBOUND, content=compose(), headers=RFC822)
    forbidden = await client.post(INBOUND, content=compose(), headers=agent.headers | RFC822)

    assert anonymous.status_code == 401
    assert forbidden.status_code == 403
    assert "admin" in forbidden.json()["error"]["message"]


@pytest.mark.parametrize("content_type", ["application/json", "text/html", ""])
async def test_route_rejects_other_types(
    client: httpx.AsyncClient, make_user: MakeUser, content_type: str
) -> None:
    admin = await make_user("admin")

    response = await client.post(
        INBOUND, content=compose(), headers=admin.headers | {"Content-Type": content_type}
    )

    assert response.status_code == 415
    assert "message/rfc822" in response.json()["error"]["message"]


async def test_route_size_limit(
    client: httpx.AsyncClient, make_user: MakeUser, ctx: Context
) -> None:
    admin = await make_user("admin")
    limit = ctx.settings.mail_max_message_bytes
    above_json_limit = compose(body="x" * (ctx.settings.max_request_bytes + 1000))
    too_large = compose(body="x" * (limit + 1))

    accepted = await client.post(INBOUND, content=above_json_limit, headers=admin.headers | RFC822)
    rejected = await client.post(INBOUND, content=too_large, headers=admin.headers | RFC822)
    json_write = await client.post(
        "/api/v1/tickets",
        content=b'{"subject": "' + b"x" * (limit // 2) + b'"}',
        headers=admin.headers | {"Content-Type": "application/json"},
    )

    assert accepted.status_code == 201, accepted.text
    assert rejected.status_code == 413
    assert str(limit) in rejected.json()["error"]["message"]
    assert json_write.status_code == 413


async def test_mail_rules_cover_only_the_intake_path(client: httpx.AsyncClient) -> None:
    """A path that merely starts like the intake's keeps the JSON rules and limit."""
    response = await client.post(INBOUND + "_alerts", content=compose(), headers=RFC822)

    assert response.status_code == 415
    assert "application/json" in response.json()["error"]["message"]


async def test_route_empty_body(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user("admin")

    response = await client.post(INBOUND, content=b"", headers=admin.headers | RFC822)

    assert response.status_code == 422


# The command line -------------------------------------------------------------------------


def run_opsdesk(folder: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("OPSDESK_")}
    env.update(environ)
    return subprocess.run(
        [str(OPSDESK), *args],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.mark.shared_data
def test_cli_ingest(tmp_path: Path, sqlite_template: Path) -> None:
    database = tmp_path / "opsdesk.db"
    shutil.copyfile(sqlite_template, database)
    new = tmp_path / "new.eml"
    new.write_bytes(compose())
    reply = tmp_path / "reply.eml"
    reply.write_bytes(compose(subject="Re: [SR-000001] Inverter", message_id="<cli@mail.example>"))
    bounce = tmp_path / "bounce.eml"
    bounce.write_bytes(corpus_message("sisimai/lhost-postfix-01.eml"))
    missing = tmp_path / "missing.eml"
    arguments = [str(path) for path in (new, reply, missing, bounce)]

    result = run_opsdesk(
        tmp_path,
        "mail",
        "ingest",
        "--config",
        str(EXAMPLE_WORKSPACE),
        "--database",
        f"sqlite+aiosqlite:///{database}",
        *arguments,
        OPSDESK_MAIL_DEFAULT_SERVICE_TYPE=MAIL_SERVICE_TYPE,
        OPSDESK_LOG_LEVEL="WARNING",
    )

    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"{new}: created SR-000001",
        f"{reply}: threaded onto SR-000001",
        f"{bounce}: ignored: bounce: multipart/report with report-type=delivery-status (DSN)",
    ]
    assert f"{missing}: error: cannot read the file" in result.stderr


def test_cli_ingest_unconfigured(tmp_path: Path, sqlite_template: Path) -> None:
    database = tmp_path / "opsdesk.db"
    shutil.copyfile(sqlite_template, database)
    new = tmp_path / "new.eml"
    new.write_bytes(compose())

    result = run_opsdesk(
        tmp_path,
        "mail",
        "ingest",
        "--config",
        str(EXAMPLE_WORKSPACE),
        "--database",
        f"sqlite+aiosqlite:///{database}",
        str(new),
    )

    assert result.returncode == 2
    assert "set OPSDESK_MAIL_DEFAULT_SERVICE_TYPE to one of" in result.stderr
    assert result.stdout == ""
