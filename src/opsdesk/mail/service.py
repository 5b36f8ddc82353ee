"""E-mail intake: turn one raw message into a new ticket, a customer reply, or nothing.

`ingest_message` works inside the caller's transaction and only flushes. The route or
command that calls it owns the commit, so a message is stored whole or not at all.

Threading rules, in order:

1. A reference in the subject (``[SR-000123]`` or ``SR-000123``) of an existing ticket.
2. In-Reply-To or References naming the Message-ID of a message that Opsdesk received for
   a ticket or sent about it.

A matched ticket takes the message as a customer reply only when the sender is the
ticket's requester and the ticket is not closed. Otherwise a new ticket is created whose
description starts by naming the matched ticket, so nobody can add text to another
customer's ticket by guessing its reference.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.errors import InvalidInput, ServiceUnavailable
from opsdesk.mail.classify import classify
from opsdesk.mail.models import MailDelivery
from opsdesk.mail.parse import Address, ParsedAttachment, ParsedMessage, parse_message
from opsdesk.mail.reply import extract_reply, extract_reply_html
from opsdesk.portal.attachments import size_text
from opsdesk.tickets.models import Attachment, Ticket, TicketMessage
from opsdesk.tickets.service import (
    NewTicket,
    add_customer_reply,
    check_intake,
    create_ticket,
    reference_of,
)
from opsdesk.workspace.schema import TicketStatus

logger = logging.getLogger(__name__)

CHANNEL = "email"
MAX_SUBJECT_CHARS = 200
MAX_NAME_CHARS = 200
MAX_EMAIL_CHARS = 320
MAX_MESSAGE_ID_CHARS = 998
MAX_CONTENT_TYPE_CHARS = 100
# References can list a whole thread; the newest ids are the ones that can match.
MAX_THREAD_IDS = 50
NO_TEXT = "(The e-mail had no text.)"
FORWARD_SUBJECT = re.compile(r"^\s*(?:fwd?|wg|tr|rv|enc)\s*:", re.IGNORECASE)
_CONTENT_TYPE = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")


class IngestOutcome(StrEnum):
    CREATED = "created"
    THREADED = "threaded"
    IGNORED = "ignored"


@dataclass(frozen=True)
class IngestResult:
    outcome: IngestOutcome
    reason: str
    reference: str | None = None
    ticket_id: int | None = None
    message_id: int | None = None
    """Id of the TicketMessage that contains the mail's text."""
    attachments: int = 0
    notes: tuple[str, ...] = field(default=())
    """Lenient decodes and attachments left out, one sentence each."""

    def summary(self) -> str:
        """Return one line for people: ``created SR-000123``, ``ignored: bounce: …``."""
        if self.outcome is IngestOutcome.CREATED:
            return f"created {self.reference}"
        if self.outcome is IngestOutcome.THREADED:
            return f"threaded onto {self.reference}"
        return f"ignored: {self.reason}"


@dataclass(frozen=True)
class MailDefaults:
    """Service type, priority and contact method of tickets created from e-mail."""

    service_type: str
    priority: str | None
    contact_method: str


def check_mail_defaults(ctx: Context) -> MailDefaults:
    """Return the intake defaults, or raise ServiceUnavailable naming the setting to fix."""
    settings = ctx.settings
    service_types = ", ".join(item.key for item in ctx.workspace.spec.service_types)
    if not settings.mail_default_service_type:
        raise ServiceUnavailable(
            "e-mail intake is not configured: set OPSDESK_MAIL_DEFAULT_SERVICE_TYPE to one "
            f"of {service_types}"
        )
    defaults = MailDefaults(
        service_type=settings.mail_default_service_type,
        priority=settings.mail_default_priority,
        contact_method=settings.mail_contact_method,
    )
    probe = NewTicket(
        name="probe",
        email=None,
        phone=None,
        service_type=defaults.service_type,
        contact_method=defaults.contact_method,
        priority=defaults.priority,
        subject="probe",
        description="probe",
        site_address=None,
    )
    try:
        check_intake(ctx, probe)
    except InvalidInput as exc:
        problems = "; ".join(
            f"OPSDESK_MAIL_{_setting_of(detail.get('field'))}: {detail.get('message')}"
            for detail in exc.details
        )
        raise ServiceUnavailable(
            f"e-mail intake is misconfigured for workspace {ctx.workspace.name!r}: {problems}"
        ) from exc
    return defaults


def _setting_of(field_name: object) -> str:
    names = {
        "service_type": "DEFAULT_SERVICE_TYPE",
        "priority": "DEFAULT_PRIORITY",
        "contact_method": "CONTACT_METHOD",
    }
    return names.get(str(field_name), str(field_name).upper())


def own_addresses(ctx: Context) -> set[str]:
    """Return the addresses Opsdesk sends from, in lower case; mail from them is a loop."""
    addresses = set()
    for value in (ctx.settings.mail_from, ctx.settings.mail_reply_to):
        if value:
            address = parseaddr(value)[1].lower()
            if address:
                addresses.add(address)
    return addresses


async def ingest_message(
    session: AsyncSession, ctx: Context, raw: bytes, *, at: datetime | None = None
) -> IngestResult:
    """Create a ticket from `raw`, add it to a ticket as a reply, or ignore it.

    Raises ServiceUnavailable when the intake settings do not fit the workspace.
    Bounces, automatic replies, feedback reports, mail without a sender, mail from
    Opsdesk's own address and a Message-ID already stored are ignored with the reason.
    """
    at = at or ctx.clock.now()
    defaults = check_mail_defaults(ctx)
    message = parse_message(raw)
    ignored = await _reason_to_ignore(session, ctx, message)
    if ignored is not None:
        logger.info(
            "e-mail %s from %s ignored: %s",
            message.message_id or "(no Message-ID)",
            message.sender.email if message.sender else "(no sender)",
            ignored,
        )
        return IngestResult(IngestOutcome.IGNORED, ignored, notes=message.notes)
    sender = message.sender
    assert sender is not None

    ticket = await find_thread(session, ctx, message)
    if ticket is not None:
        reference = reference_of(ctx, ticket)
        is_requester = sender.normalized == (ticket.requester_email or "").lower()
        if is_requester and ticket.status != TicketStatus.CLOSED:
            return await _add_reply(session, ctx, ticket, message, at=at)
        if is_requester:
            preface = f"Follow-up to {reference}, which is closed."
        else:
            preface = f"Refers to {reference}; sent by {sender.email}, who is not its requester."
        return await _create(session, ctx, message, sender, defaults, preface=preface, at=at)
    return await _create(session, ctx, message, sender, defaults, preface=None, at=at)


async def _reason_to_ignore(
    session: AsyncSession, ctx: Context, message: ParsedMessage
) -> str | None:
    verdict = classify(message)
    if not verdict.is_ordinary:
        return f"{verdict.kind.value.replace('_', ' ')}: {verdict.reason}"
    sender = message.sender
    if sender is None:
        return "no valid sender address in From:"
    if len(sender.normalized) > MAX_EMAIL_CHARS:
        return f"the sender address is longer than {MAX_EMAIL_CHARS} characters"
    if sender.normalized in own_addresses(ctx):
        return f"sent from Opsdesk's own address {sender.email}, which would start a mail loop"
    if message.message_id is not None:
        known = (
            await session.execute(
                select(TicketMessage.ticket_id)
                .where(TicketMessage.email_message_id == message.message_id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if known is not None:
            ticket = await session.get(Ticket, known)
            reference = reference_of(ctx, ticket) if ticket is not None else f"ticket {known}"
            return f"Message-ID {message.message_id} was already ingested into {reference}"
    return None


async def find_thread(session: AsyncSession, ctx: Context, message: ParsedMessage) -> Ticket | None:
    """Return the existing ticket `message` belongs to, by subject reference or Message-ID."""
    for number in subject_references(ctx.workspace.spec.reference_prefix, message.subject):
        ticket = await session.get(Ticket, number)
        if ticket is not None:
            return ticket
    ticket_id = await _ticket_of_message_ids(session, _thread_ids(message))
    if ticket_id is None:
        return None
    return await session.get(Ticket, ticket_id)


def subject_references(prefix: str, subject: str) -> list[int]:
    """Return the ticket numbers referenced in `subject`, bracketed ones first."""
    pattern = re.compile(rf"(\[)?\b{re.escape(prefix)}-(\d{{1,18}})\b(\])?", re.IGNORECASE)
    bracketed: list[int] = []
    bare: list[int] = []
    for match in pattern.finditer(subject):
        number = int(match.group(2))
        (bracketed if match.group(1) and match.group(3) else bare).append(number)
    return list(dict.fromkeys(bracketed + bare))


def _thread_ids(message: ParsedMessage) -> list[str]:
    """In-Reply-To first, then References from the newest, as the likeliest matches."""
    ids = list(message.in_reply_to) + list(reversed(message.references))
    unique = [item for item in dict.fromkeys(ids) if len(item) <= MAX_MESSAGE_ID_CHARS]
    return unique[:MAX_THREAD_IDS]


async def _ticket_of_message_ids(session: AsyncSession, ids: list[str]) -> int | None:
    if not ids:
        return None
    found: dict[str, int] = {}
    received = await session.execute(
        select(TicketMessage.email_message_id, TicketMessage.ticket_id).where(
            TicketMessage.email_message_id.in_(ids)
        )
    )
    for message_id, ticket_id in received:
        if message_id is not None:
            found.setdefault(message_id, ticket_id)
    sent = await session.execute(
        select(MailDelivery.message_id, MailDelivery.ticket_id).where(
            MailDelivery.message_id.in_(ids), MailDelivery.ticket_id.is_not(None)
        )
    )
    for sent_id, sent_ticket_id in sent:
        if sent_id is not None and sent_ticket_id is not None:
            found.setdefault(sent_id, sent_ticket_id)
    for message_id in ids:
        if message_id in found:
            return found[message_id]
    return None


# Writing --------------------------------------------------------------------------


def _reply_text(message: ParsedMessage) -> str:
    if message.text_from_html and message.html is not None:
        return extract_reply_html(message.html)
    return extract_reply(message.text)


def _body_text(message: ParsedMessage, *, keep_quotes: bool) -> str:
    """Return the text to store: the new part of a reply, or all of it when that is empty."""
    full = message.text.strip()
    text = full if keep_quotes else _reply_text(message) or full
    return text or NO_TEXT


def _stored_message_id(message: ParsedMessage) -> str | None:
    if message.message_id is None or len(message.message_id) > MAX_MESSAGE_ID_CHARS:
        return None
    return message.message_id


async def _create(
    session: AsyncSession,
    ctx: Context,
    message: ParsedMessage,
    sender: Address,
    defaults: MailDefaults,
    *,
    preface: str | None,
    at: datetime,
) -> IngestResult:
    # A forwarded message is the request itself, so its quoted part is kept.
    keep_quotes = bool(FORWARD_SUBJECT.match(message.subject))
    attachments, left_out = _select_attachments(ctx, message.attachments)
    description = _with_notes(_body_text(message, keep_quotes=keep_quotes), left_out)
    if preface:
        description = f"{preface}\n\n{description}"

    request = _new_ticket(message, sender, defaults, description=description)
    created = await create_ticket(session, ctx, request, channel=CHANNEL, at=at)
    ticket = created.ticket

    # create_ticket adds the description as the ticket's first message. The query
    # flushes it, so its id is known for the attachments.
    first = (
        await session.execute(
            select(TicketMessage)
            .where(TicketMessage.ticket_id == ticket.id)
            .order_by(TicketMessage.id)
            .limit(1)
        )
    ).scalar_one()
    first.email_message_id = _stored_message_id(message)
    _store_attachments(session, ticket.id, first.id, attachments, at=at)

    reference = reference_of(ctx, ticket)
    logger.info(
        "e-mail %s from %s created %s with %d attachment(s)",
        message.message_id or "(no Message-ID)",
        sender.email,
        reference,
        len(attachments),
    )
    return IngestResult(
        IngestOutcome.CREATED,
        "new request" if preface is None else preface,
        reference=reference,
        ticket_id=ticket.id,
        message_id=first.id,
        attachments=len(attachments),
        notes=message.notes + tuple(left_out),
    )


def _new_ticket(
    message: ParsedMessage, sender: Address, defaults: MailDefaults, *, description: str
) -> NewTicket:
    subject = " ".join(message.subject.split()) or "(no subject)"
    name = " ".join(sender.name.split()) or sender.email.split("@", 1)[0]
    return NewTicket(
        name=name[:MAX_NAME_CHARS],
        email=sender.normalized,
        phone=None,
        service_type=defaults.service_type,
        contact_method=defaults.contact_method,
        priority=defaults.priority,
        subject=subject[:MAX_SUBJECT_CHARS],
        description=description,
    )


async def _add_reply(
    session: AsyncSession, ctx: Context, ticket: Ticket, message: ParsedMessage, *, at: datetime
) -> IngestResult:
    attachments, left_out = _select_attachments(ctx, message.attachments)
    body = _with_notes(_body_text(message, keep_quotes=False), left_out)
    reply = await add_customer_reply(session, ctx, ticket, body=body, at=at)
    reply.email_message_id = _stored_message_id(message)
    await session.flush()
    _store_attachments(session, ticket.id, reply.id, attachments, at=at)
    reference = reference_of(ctx, ticket)
    logger.info(
        "e-mail %s from %s threaded onto %s with %d attachment(s)",
        message.message_id or "(no Message-ID)",
        ticket.requester_email,
        reference,
        len(attachments),
    )
    return IngestResult(
        IngestOutcome.THREADED,
        "reply from the requester",
        reference=reference,
        ticket_id=ticket.id,
        message_id=reply.id,
        attachments=len(attachments),
        notes=message.notes + tuple(left_out),
    )


def _select_attachments(
    ctx: Context, attachments: Sequence[ParsedAttachment]
) -> tuple[list[ParsedAttachment], list[str]]:
    """Return the attachments within the limits and one sentence per file left out."""
    max_files = ctx.settings.mail_attachment_max_files
    max_bytes = ctx.settings.mail_attachment_max_bytes
    kept: list[ParsedAttachment] = []
    left_out: list[str] = []
    for attachment in attachments:
        size = len(attachment.content)
        if size > max_bytes:
            left_out.append(
                f"Attachment {attachment.filename} ({size_text(size)}) was not kept: it is "
                f"larger than the limit of {size_text(max_bytes)}."
            )
        elif len(kept) >= max_files:
            left_out.append(
                f"Attachment {attachment.filename} was not kept: only {max_files} "
                "attachments are kept per e-mail."
            )
        else:
            kept.append(attachment)
    return kept, left_out


def _with_notes(text: str, left_out: list[str]) -> str:
    if not left_out:
        return text
    return text + "\n\n" + "\n".join(f"[{note}]" for note in left_out)


def _store_attachments(
    session: AsyncSession,
    ticket_id: int,
    message_id: int,
    attachments: list[ParsedAttachment],
    *,
    at: datetime,
) -> None:
    for attachment in attachments:
        content_type = attachment.content_type.lower()
        if len(content_type) > MAX_CONTENT_TYPE_CHARS or not _CONTENT_TYPE.match(content_type):
            content_type = "application/octet-stream"
        session.add(
            Attachment(
                ticket_id=ticket_id,
                message_id=message_id,
                filename=attachment.filename,
                content_type=content_type,
                size_bytes=len(attachment.content),
                content=attachment.content,
                created_at=at,
            )
        )
