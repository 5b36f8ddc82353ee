"""Corpus paths, message builders and database reads shared by the e-mail tests."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from sqlalchemy import func, select

from opsdesk.db import Database
from opsdesk.tickets.models import Attachment, Ticket, TicketMessage
from support import require_shared, shared_data_dir

MAIL_SERVICE_TYPE = "electrical_repair"
REQUESTER = "ada@example.com"
SUPPORT = "support@brightline.example"


class StaffUser(Protocol):
    """A user created by the `make_user` fixture."""

    @property
    def headers(self) -> dict[str, str]: ...


MakeUser = Callable[..., Awaitable[StaffUser]]

MISSING = "corpus-missing"
"""Parameter used in place of the corpus files when the corpus is absent."""

# Files in the corpus folder that are not messages or bodies.
NOT_MESSAGES = frozenset({"PROVENANCE.md", ".gitattributes"})
GROUPS = ("mikel-mail", "talon", "email_reply_parser", "sisimai")


def corpus_root() -> Path:
    return shared_data_dir() / "email"


def corpus_files(*folders: str, suffixes: tuple[str, ...] | None = None) -> list[str]:
    """Corpus files under `folders` as paths relative to the corpus, for parametrize.

    Returns [MISSING] when the corpus is absent, so the test runs once and skips (or
    fails under OPSDESK_REQUIRE_SHARED_DATA=1) through `corpus_path`.
    """
    root = corpus_root()
    if not root.is_dir():
        return [MISSING]
    found = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*")):
            if not path.is_file() or path.name in NOT_MESSAGES:
                continue
            if suffixes is not None and path.suffix not in suffixes:
                continue
            found.append(path.relative_to(root).as_posix())
    return found


def corpus_path(relative: str) -> Path:
    """Return the corpus file, skipping the test when the corpus is absent."""
    root = require_shared(corpus_root(), "the e-mail test corpus")
    path = root / relative
    assert relative != MISSING, f"no corpus files were found in {root}"
    assert path.is_file(), f"corpus file {relative} not found in {root}"
    return path


def is_full_message(relative: str) -> bool:
    """Whether the corpus file is a whole message; the others are reply bodies only."""
    return relative.endswith(".eml")


def wrap_body(relative: str, body: bytes) -> bytes:
    """Wrap a reply body from the corpus as the body of a minimal message."""
    subtype = "html" if relative.endswith(".html") else "plain"
    digest = hashlib.sha256(relative.encode()).hexdigest()[:16]
    head = (
        f"From: Corpus Sender <sender@example.com>\r\n"
        f"To: {SUPPORT}\r\n"
        f"Subject: Body sample {Path(relative).name}\r\n"
        f"Message-ID: <{digest}@corpus.example>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: text/{subtype}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    )
    return head.encode() + body


def corpus_message(relative: str) -> bytes:
    """The corpus file as a raw message: as stored, or wrapped when it is a body only."""
    raw = corpus_path(relative).read_bytes()
    return raw if is_full_message(relative) else wrap_body(relative, raw)


def compose(
    *,
    subject: str = "Inverter beeps and shuts down",
    body: str = "Since yesterday the inverter shuts down every hour.",
    sender: str = f"Ada Obi <{REQUESTER}>",
    message_id: str | None = "<first@mail.example>",
    in_reply_to: str | None = None,
    references: str | None = None,
    headers: dict[str, str] | None = None,
    attachments: list[tuple[str, str, bytes]] | None = None,
) -> bytes:
    """Build a raw message as a mail client would send it."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    if message_id is not None:
        message["Message-ID"] = message_id
    if in_reply_to is not None:
        message["In-Reply-To"] = in_reply_to
    if references is not None:
        message["References"] = references
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    for filename, content_type, content in attachments or []:
        maintype, subtype = content_type.split("/", 1)
        message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


async def count_tickets(db: Database) -> int:
    async with db.read() as session:
        return (await session.execute(select(func.count()).select_from(Ticket))).scalar_one()


async def load_ticket(db: Database, ticket_id: int) -> Ticket:
    async with db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None, f"ticket {ticket_id} not found"
        return ticket


async def messages_of(db: Database, ticket_id: int) -> list[TicketMessage]:
    async with db.read() as session:
        rows = await session.execute(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket_id)
            .order_by(TicketMessage.id)
        )
        return list(rows.scalars())


async def attachments_of(db: Database, ticket_id: int) -> list[Attachment]:
    async with db.read() as session:
        rows = await session.execute(
            select(Attachment).where(Attachment.ticket_id == ticket_id).order_by(Attachment.id)
        )
        return list(rows.scalars())
