"""An SMTP server on 127.0.0.1 for the outgoing mail tests, and settings that use it."""

from __future__ import annotations

import dataclasses
import email
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from opsdesk.context import Context


@dataclass
class Inbox:
    """An aiosmtpd handler that keeps accepted messages and can reply with errors first."""

    messages: list[EmailMessage] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)
    """SMTP replies to give at DATA, in order, before accepting again."""

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
    inbox: Inbox
    port: int


def with_smtp(ctx: Context, port: int, **changes: Any) -> Context:
    settings = ctx.settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_security": "none",
            "smtp_timeout_seconds": 10.0,
        }
        | changes
    )
    return dataclasses.replace(ctx, settings=settings)
