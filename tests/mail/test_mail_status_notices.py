"""Status notices to the requester and workspace templates, against a local SMTP server."""

from __future__ import annotations

import dataclasses
import logging
from email.message import EmailMessage

import pytest
from mail_support import REQUESTER, compose
from smtp_support import SmtpServer, with_smtp
from sqlalchemy import select

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.mail.jobs import mail_kind, run_mail_jobs
from opsdesk.mail.models import MailDelivery
from opsdesk.mail.service import IngestResult, ingest_message
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.workspace import Workspace, parse_workspace
from support import EXAMPLE_WORKSPACE

OWNER = "test-worker"
AGENT = "agent@example.com"


async def ingest(db: Database, ctx: Context, raw: bytes) -> IngestResult:
    async with db.transaction() as session:
        return await ingest_message(session, ctx, raw)


async def set_status(db: Database, ctx: Context, ticket_id: int, status: str) -> None:
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        changed = await tickets.change_status(session, ctx, ticket, status=status, actor=AGENT)
        assert changed


async def deliveries(db: Database) -> list[MailDelivery]:
    async with db.read() as session:
        rows = await session.execute(select(MailDelivery).order_by(MailDelivery.id))
        return list(rows.scalars())


async def new_ticket(db: Database, ctx: Context) -> int:
    created = await ingest(db, ctx, compose())
    assert created.ticket_id is not None
    return created.ticket_id


def workspace_with(section: str) -> Workspace:
    text = EXAMPLE_WORKSPACE.read_text(encoding="utf-8")
    return parse_workspace(text + section, source="test.yaml", environ={})


def body_of(message: EmailMessage) -> str:
    """Return the text with the line breaks SMTP sent (CRLF) as "\\n"."""
    content = message.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


async def test_status_notices_in_thread(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    ticket_id = await new_ticket(db, mailing)
    await run_mail_jobs(db, mailing, owner=OWNER)
    [ack] = smtp_server.inbox.messages

    for status in ("open", "waiting_on_customer", "open", "resolved", "open", "resolved"):
        await set_status(db, mailing, ticket_id, status)
        await run_mail_jobs(db, mailing, owner=OWNER)
    await set_status(db, mailing, ticket_id, "closed")
    await run_mail_jobs(db, mailing, owner=OWNER)

    _, waiting, resolved, reopened, resolved_again = smtp_server.inbox.messages
    assert waiting["Subject"] == "[SR-000001] Your reply is needed: Inverter beeps and shuts down"
    assert "We need your reply" in body_of(waiting)
    assert resolved["Subject"] == "[SR-000001] Resolved: Inverter beeps and shuts down"
    assert "We have resolved your request SR-000001" in body_of(resolved)
    assert reopened["Subject"] == "[SR-000001] Reopened: Inverter beeps and shuts down"
    assert "We have reopened your request SR-000001" in body_of(reopened)
    assert resolved_again["Subject"] == resolved["Subject"]
    for notice in (waiting, resolved, reopened, resolved_again):
        assert notice["To"] == REQUESTER
        assert notice["Auto-Submitted"] == "auto-generated"
        assert notice["X-Auto-Response-Suppress"] == "All"
        assert ack["Message-ID"] in notice["References"].split()
    assert waiting["In-Reply-To"] == ack["Message-ID"]
    assert resolved["In-Reply-To"] == waiting["Message-ID"]
    kinds = [(row.kind, row.status) for row in await deliveries(db)]
    assert kinds == [
        ("acknowledgement", "sent"),
        ("status_change", "skipped"),
        ("waiting_on_customer", "sent"),
        ("status_change", "skipped"),
        ("resolved", "sent"),
        ("reopened", "sent"),
        ("resolved", "sent"),
        ("status_change", "skipped"),
    ]
    skipped = [row.last_error for row in await deliveries(db) if row.status == "skipped"]
    assert skipped[0] == "a status change from new to open is not mailed"
    assert skipped[-1] == "a status change from resolved to closed is not mailed"


async def test_customer_reopening_not_mailed(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    mailing = with_smtp(ctx, smtp_server.port)
    ticket_id = await new_ticket(db, mailing)
    await set_status(db, mailing, ticket_id, "resolved")
    await run_mail_jobs(db, mailing, owner=OWNER)
    resolved = smtp_server.inbox.messages[-1]

    await ingest(
        db,
        mailing,
        compose(
            subject=f"Re: {resolved['Subject']}",
            body="It beeps again since this morning.",
            message_id="<again@mail.example>",
            in_reply_to=resolved["Message-ID"],
        ),
    )
    await run_mail_jobs(db, mailing, owner=OWNER)

    assert len(smtp_server.inbox.messages) == 2
    last = (await deliveries(db))[-1]
    assert last.kind == "reopened"
    assert last.status == "skipped"
    assert last.last_error == "the customer's own reply reopened the ticket"


async def test_workspace_templates_replace_built_in(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    workspace = workspace_with(
        "\nmail:\n"
        "  templates:\n"
        "    resolved:\n"
        "      subject: 'Fixed: {{ topic }} ({{ reference }})'\n"
        "      body: |\n"
        "        Dear {{ requester_name }},\n"
        "        {{ reference }} went from {{ previous_status }} to {{ status }}.\n"
        "        -- {{ workspace_name }}\n"
        "    waiting_on_customer:\n"
        "      body: 'Please answer us about {{ reference }}.'\n"
        "    acknowledgement:\n"
        "      enabled: false\n"
    )
    mailing = with_smtp(dataclasses.replace(ctx, workspace=workspace), smtp_server.port)
    ticket_id = await new_ticket(db, mailing)

    await set_status(db, mailing, ticket_id, "waiting_on_customer")
    await set_status(db, mailing, ticket_id, "resolved")
    await run_mail_jobs(db, mailing, owner=OWNER)

    waiting, resolved = smtp_server.inbox.messages
    assert waiting["Subject"] == "[SR-000001] Your reply is needed: Inverter beeps and shuts down"
    assert body_of(waiting) == "Please answer us about SR-000001.\n"
    assert resolved["Subject"] == "Fixed: Inverter beeps and shuts down (SR-000001)"
    assert body_of(resolved) == (
        "Dear Ada Obi,\n"
        "SR-000001 went from waiting_on_customer to resolved.\n"
        "-- Brightline Technical Services\n"
    )
    ack = (await deliveries(db))[0]
    assert ack.status == "skipped"
    assert ack.last_error == (
        "the workspace file turns acknowledgement mail off (mail.templates.acknowledgement.enabled)"
    )


async def test_failing_template_falls_back(
    db: Database, ctx: Context, smtp_server: SmtpServer, caplog: pytest.LogCaptureFixture
) -> None:
    # The sample subject is longer than 3 characters, so the check at load passes.
    workspace = workspace_with(
        "\nmail:\n"
        "  templates:\n"
        "    acknowledgement:\n"
        "      body: 'Ratio {{ 100 // (subject | length - 3) }}'\n"
    )
    mailing = with_smtp(dataclasses.replace(ctx, workspace=workspace), smtp_server.port)

    with caplog.at_level(logging.ERROR, logger="opsdesk.mail.templating"):
        await ingest(db, mailing, compose(subject="Fan"))
        await run_mail_jobs(db, mailing, owner=OWNER)

    [ack] = smtp_server.inbox.messages
    assert "We have recorded your request as SR-000001" in body_of(ack)
    [record] = caplog.records
    assert "body template of acknowledgement mail for SR-000001 failed" in record.getMessage()
    assert "ZeroDivisionError" in record.getMessage()


async def test_subject_without_reference_gets_it(
    db: Database, ctx: Context, smtp_server: SmtpServer
) -> None:
    # The reference is in the sample subject only because "Inverter" is in it.
    workspace = workspace_with(
        "\nmail:\n"
        "  templates:\n"
        "    acknowledgement:\n"
        "      subject: '{% if \"Inverter\" in subject %}[{{ reference }}] {% endif %}Received'\n"
    )
    mailing = with_smtp(dataclasses.replace(ctx, workspace=workspace), smtp_server.port)

    await ingest(db, mailing, compose(subject="Fan is loud"))
    await run_mail_jobs(db, mailing, owner=OWNER)

    [ack] = smtp_server.inbox.messages
    assert ack["Subject"] == "[SR-000001] Received"


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("ticket.created", {}, "acknowledgement"),
        ("ticket.replied", {"public": True}, "agent_reply"),
        ("ticket.status_changed", {"from": "open", "to": "resolved"}, "resolved"),
        (
            "ticket.status_changed",
            {"from": "new", "to": "waiting_on_customer"},
            "waiting_on_customer",
        ),
        (
            "ticket.status_changed",
            {"from": "resolved", "to": "waiting_on_customer"},
            "waiting_on_customer",
        ),
        ("ticket.status_changed", {"from": "resolved", "to": "open"}, "reopened"),
        ("ticket.status_changed", {"from": "resolved", "to": "pending_third_party"}, "reopened"),
        ("ticket.status_changed", {"from": "resolved", "to": "closed"}, None),
        ("ticket.status_changed", {"from": "open", "to": "closed"}, None),
        ("ticket.status_changed", {"from": "new", "to": "open"}, None),
        ("ticket.status_changed", {"from": "open", "to": "pending_third_party"}, None),
    ],
)
def test_mail_kind_of_event(event_type: str, payload: dict[str, str], expected: str | None) -> None:
    assert mail_kind(event_type, payload) == expected
