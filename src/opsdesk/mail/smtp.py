"""Outgoing mail: build the message and send it by SMTP.

`opsdesk.mail.templating` renders the subject and body. Every mail carries the ticket
reference in its subject (``[SR-000123]``) and a Message-ID that the intake finds again in
the In-Reply-To or References of the customer's reply, so either one threads the reply
onto the ticket.
"""

from __future__ import annotations

import email.utils
import secrets
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

import aiosmtplib

from opsdesk.mail.templating import ACKNOWLEDGEMENT, STATUS_KINDS
from opsdesk.settings import Settings


@dataclass(frozen=True)
class OutgoingMail:
    """Everything needed to send one mail; stored with its delivery so retries match."""

    kind: str
    recipient: str
    subject: str
    body: str
    message_id: str
    in_reply_to: str | None
    references: tuple[str, ...]


def mail_configured(settings: Settings) -> bool:
    """Return whether outgoing mail is on: an SMTP host and a From: address are set."""
    return bool(settings.smtp_host and settings.mail_from)


def new_message_id(settings: Settings, reference: str) -> str:
    """Return a unique Message-ID in the domain of the From: address.

    64 random bits make a collision unlikely. The id is kept short so that the header
    fits on one line and is not folded.
    """
    address = email.utils.parseaddr(settings.mail_from or "")[1]
    domain = address.rpartition("@")[2] or "opsdesk.invalid"
    return f"<{reference}.{secrets.token_hex(8)}@{domain}>"


def build_message(settings: Settings, mail: OutgoingMail, *, at: datetime) -> EmailMessage:
    """Return the message with threading headers; `at` becomes its Date."""
    message = EmailMessage()
    message["From"] = settings.mail_from or ""
    message["To"] = mail.recipient
    if settings.mail_reply_to:
        message["Reply-To"] = settings.mail_reply_to
    message["Subject"] = mail.subject
    message["Date"] = email.utils.format_datetime(at)
    message["Message-ID"] = mail.message_id
    if mail.in_reply_to:
        message["In-Reply-To"] = mail.in_reply_to
    if mail.references:
        message["References"] = " ".join(mail.references)
    if mail.kind == ACKNOWLEDGEMENT or mail.kind in STATUS_KINDS:
        # RFC 3834: an automatic response (auto-replied) or notice (auto-generated), so
        # auto-responders must not reply to it. An out-of-office reply that the intake
        # did not recognise as automatic would reopen a resolved ticket. Exchange reads
        # the second header.
        message["Auto-Submitted"] = (
            "auto-replied" if mail.kind == ACKNOWLEDGEMENT else "auto-generated"
        )
        message["X-Auto-Response-Suppress"] = "All"
    message.set_content(mail.body)
    return message


async def send_message(settings: Settings, message: EmailMessage) -> None:
    """Send `message` through the configured SMTP server.

    Raises aiosmtplib.SMTPException (or OSError) when the server cannot be reached or
    refuses the message.
    """
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=password,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        timeout=settings.smtp_timeout_seconds,
    )
