"""Sort incoming mail into what a person wrote and what a machine sent.

Bounces (delivery status notifications), automatic replies and abuse feedback reports
must never become tickets: replying to them starts mail loops, and they carry no request.
The checks run from the most to the least certain signal, and the first match gives the
reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from opsdesk.mail.parse import ParsedMessage


class MailKind(StrEnum):
    ORDINARY = "ordinary"
    BOUNCE = "bounce"
    AUTO_REPLY = "auto_reply"
    FEEDBACK_REPORT = "feedback_report"


@dataclass(frozen=True)
class Classification:
    kind: MailKind
    reason: str

    @property
    def is_ordinary(self) -> bool:
        return self.kind is MailKind.ORDINARY


# Local parts that mail servers send bounces from (RFC 5321 section 4.5.1 requires
# postmaster; MAILER-DAEMON is the traditional name).
BOUNCE_SENDERS = frozenset({"mailer-daemon", "mail-daemon", "mailerdaemon", "postmaster"})

# Subjects of bounces from common servers. A subject alone is not enough: it must come
# with a null Return-Path or an Auto-Submitted header.
BOUNCE_SUBJECT = re.compile(
    r"^\s*(?:undeliverable|undelivered mail|undeliverable mail|delivery status notification"
    r"|delivery failure|delivery failed|delivery has failed|mail delivery failed"
    r"|returned mail|failure notice|mail system error|non remis|unzustellbar"
    r"|message not delivered|delivery notification)\b",
    re.IGNORECASE,
)

# Subject prefixes of automatic replies. Only a prefix ending in a colon counts, and only
# at the start, so "Re: Automatic reply: …" (a person replying to one) and "Out of office
# AC unit broken" (a request) are ordinary mail.
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(?:automatic reply|auto reply|auto-reply|autoreply|auto response|auto-response"
    r"|autoresponse|autorespons|out of (?:the )?office(?: auto ?reply)?|away from (?:the )?office"
    r"|abwesenheitsnotiz|automatische antwort|réponse automatique|respuesta automática"
    r"|risposta automatica|automatisch antwoord|autosvar|automaattinen vastaus)\s*:",
    re.IGNORECASE,
)

AUTO_REPLY_HEADERS = ("x-autoreply", "x-autorespond", "x-autoresponder")
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})


def classify(message: ParsedMessage) -> Classification:
    """Return what kind of mail `message` is and why."""
    return (
        _feedback_report(message)
        or _bounce(message)
        or _auto_reply(message)
        or Classification(MailKind.ORDINARY, "no bounce or automatic-reply signal")
    )


def _feedback_report(message: ParsedMessage) -> Classification | None:
    if message.report_type == "feedback-report":
        return Classification(
            MailKind.FEEDBACK_REPORT, "multipart/report with report-type=feedback-report (ARF)"
        )
    if "message/feedback-report" in message.part_types:
        return Classification(MailKind.FEEDBACK_REPORT, "contains a message/feedback-report part")
    return None


def _bounce(message: ParsedMessage) -> Classification | None:
    if message.report_type == "delivery-status":
        return Classification(
            MailKind.BOUNCE, "multipart/report with report-type=delivery-status (DSN)"
        )
    if "message/delivery-status" in message.part_types:
        return Classification(MailKind.BOUNCE, "contains a message/delivery-status part")
    sender = message.sender
    if sender is not None:
        local_part = sender.normalized.rpartition("@")[0]
        if local_part in BOUNCE_SENDERS:
            return Classification(MailKind.BOUNCE, f"sent by {sender.email}")
    failed = message.header("x-failed-recipients")
    if failed is not None:
        return Classification(MailKind.BOUNCE, f"X-Failed-Recipients: {failed}")
    if BOUNCE_SUBJECT.match(message.subject) and (
        _null_return_path(message) or _auto_submitted(message) is not None
    ):
        return Classification(
            MailKind.BOUNCE, f"bounce subject {message.subject!r} from an automatic sender"
        )
    return None


def _auto_reply(message: ParsedMessage) -> Classification | None:
    if message.report_type == "disposition-notification":
        return Classification(MailKind.AUTO_REPLY, "read receipt (disposition notification)")
    auto_submitted = _auto_submitted(message)
    if auto_submitted is not None:
        return Classification(MailKind.AUTO_REPLY, f"Auto-Submitted: {auto_submitted}")
    for name in AUTO_REPLY_HEADERS:
        value = message.header(name)
        if value is not None:
            return Classification(MailKind.AUTO_REPLY, f"{name} header present")
    precedence = (message.header("precedence") or "").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return Classification(MailKind.AUTO_REPLY, f"Precedence: {precedence}")
    if AUTO_REPLY_SUBJECT.match(message.subject):
        return Classification(MailKind.AUTO_REPLY, f"automatic-reply subject {message.subject!r}")
    return None


def _auto_submitted(message: ParsedMessage) -> str | None:
    """Return the Auto-Submitted value unless it is absent or "no" (RFC 3834)."""
    value = message.header("auto-submitted")
    if value is None:
        return None
    keyword = value.split(";", 1)[0].split("(", 1)[0].strip().lower()
    if keyword in {"", "no"}:
        return None
    return value.strip()


def _null_return_path(message: ParsedMessage) -> bool:
    return any(value.strip() == "<>" for value in message.header_values("return-path"))
