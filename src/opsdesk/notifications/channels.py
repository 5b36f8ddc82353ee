"""The content of a notification on each channel, and how it is sent there.

The text comes from the outbox event the notification belongs to: its type and payload.
`compose_message` turns them into one channel-neutral `NotificationMessage`, and
`slack_body`, `teams_body` and `email_message` render that for Slack-compatible incoming
webhooks, Microsoft Teams incoming webhooks (an Adaptive Card) and e-mail.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from opsdesk.mail.jobs import is_permanent_failure
from opsdesk.mail.smtp import OutgoingMail, build_message, send_message
from opsdesk.notifications.slack import escape
from opsdesk.settings import Settings
from opsdesk.webhooks.guard import OutboundBlocked
from opsdesk.webhooks.jobs import parse_retry_after

USER_AGENT = "Opsdesk-Notifications/0.1"
RESPONSE_EXCERPT_BYTES = 2048
RETRYABLE_STATUS = frozenset({408, 425, 429})
# Legacy Teams connectors reply to a throttled request with 200 and this text in the body.
TEAMS_THROTTLED_MARKER = "HTTP error 429"
ADAPTIVE_CARD_VERSION = "1.2"


@dataclass(frozen=True)
class NotificationMessage:
    """The channel-neutral content of one notification."""

    title: str
    text: str
    facts: tuple[tuple[str, str], ...]
    ticket_url: str | None
    acknowledge_url: str | None


def compose_message(
    event_type: str, payload: dict[str, Any], *, base_url: str
) -> NotificationMessage:
    """Return what to tell a person about one event, from the event's payload."""
    reference = str(payload.get("reference") or "")
    ticket_url = f"{base_url}/console/tickets/{reference}" if reference else None
    on = f" on {reference}" if reference else ""
    metric = str(payload.get("metric") or "").replace("_", " ")
    facts: list[tuple[str, str]] = []
    if reference:
        facts.append(("Ticket", reference))
    if payload.get("task"):
        facts.append(("Task", str(payload["task"])))
    if payload.get("priority"):
        facts.append(("Priority", str(payload["priority"])))
    acknowledge_url = payload.get("acknowledge_url") or None

    if event_type == "escalation.triggered":
        name = payload.get("name") or payload.get("escalation") or "escalation"
        title = f"Escalation {name} ran{on}"
        text = str(payload.get("summary") or "The escalation ran.")
        facts.append(("Level", f"{payload.get('level')} of {metric}"))
    elif event_type == "sla.breached":
        title = f"SLA breached{on}"
        text = f"The {metric} target was due {payload.get('due_at') or 'at an unknown time'}."
    elif event_type == "sla.warning":
        title = f"SLA warning{on}"
        text = f"The {metric} target is due {payload.get('due_at') or 'at an unknown time'}."
    elif event_type == "automation.rule_ran":
        name = payload.get("name") or payload.get("rule") or "rule"
        title = f"Rule {name} ran{on}"
        outcomes = [str(item) for item in payload.get("outcomes") or []]
        text = "; ".join(outcomes) or "The rule ran."
        if payload.get("trigger"):
            facts.append(("Trigger", str(payload["trigger"])))
    else:
        title = f"{event_type}{on}"
        text = str(payload.get("subject") or payload.get("summary") or event_type)
    return NotificationMessage(
        title=title,
        text=text,
        facts=tuple(facts),
        ticket_url=ticket_url,
        acknowledge_url=str(acknowledge_url) if acknowledge_url else None,
    )


def slack_body(message: NotificationMessage) -> dict[str, Any]:
    """Return the JSON body of a Slack incoming webhook.

    Only the top-level "text" field is used, so Slack-compatible receivers (Mattermost,
    Rocket.Chat) that do not read Block Kit show the whole message.
    """
    title = escape(message.title)
    heading = f"*<{message.ticket_url}|{title}>*" if message.ticket_url else f"*{title}*"
    lines = [heading, escape(message.text)]
    lines.extend(f"{escape(name)}: {escape(value)}" for name, value in message.facts)
    if message.acknowledge_url:
        lines.append(f"<{message.acknowledge_url}|Acknowledge>")
    return {"text": "\n".join(lines)}


def teams_body(message: NotificationMessage) -> dict[str, Any]:
    """Return the JSON body of a Microsoft Teams incoming webhook: one Adaptive Card.

    Teams incoming webhooks and Workflows ("when a Teams webhook request is received")
    both take this message envelope with the card as its only attachment.
    """
    actions = []
    if message.ticket_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Open ticket", "url": message.ticket_url}
        )
    if message.acknowledge_url:
        actions.append(
            {"type": "Action.OpenUrl", "title": "Acknowledge", "url": message.acknowledge_url}
        )
    body: list[dict[str, Any]] = [
        {
            "type": "TextBlock",
            "text": message.title,
            "weight": "Bolder",
            "size": "Medium",
            "wrap": True,
        },
        {"type": "TextBlock", "text": message.text, "wrap": True},
    ]
    if message.facts:
        body.append(
            {
                "type": "FactSet",
                "facts": [{"title": name, "value": value} for name, value in message.facts],
            }
        )
    card: dict[str, Any] = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "body": body,
    }
    if actions:
        card["actions"] = actions
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


def email_text(message: NotificationMessage, *, preferences_url: str) -> str:
    """Return the plain-text body of a notification mail."""
    lines = [message.title, "", message.text, ""]
    lines.extend(f"{name}: {value}" for name, value in message.facts)
    if message.ticket_url or message.acknowledge_url:
        lines.append("")
    if message.ticket_url:
        lines.append(f"Open the ticket: {message.ticket_url}")
    if message.acknowledge_url:
        lines.append(f"Acknowledge: {message.acknowledge_url}")
    lines += [
        "",
        "-- ",
        "You get this mail because of your Opsdesk notification preferences:",
        preferences_url,
    ]
    return "\n".join(lines) + "\n"


def email_message(
    settings: Settings,
    message: NotificationMessage,
    *,
    recipient: str,
    message_id: str,
    at: datetime,
) -> EmailMessage:
    """Return the mail for one notification, marked as sent by a program."""
    outgoing = OutgoingMail(
        kind="notification",
        recipient=recipient,
        subject=message.title,
        body=email_text(
            message, preferences_url=f"{settings.base_url}/api/v1/me/notification-preferences"
        ),
        message_id=message_id,
        in_reply_to=None,
        references=(),
    )
    mail = build_message(settings, outgoing, at=at)
    # RFC 3834: a message generated by a program, so auto-responders must not reply to it.
    # Exchange reads the second header and suppresses its out-of-office replies.
    mail["Auto-Submitted"] = "auto-generated"
    mail["X-Auto-Response-Suppress"] = "All"
    return mail


def notification_message_id(settings: Settings, *, delivery_id: int, event_id: str) -> str:
    """Return the Message-ID of a delivery; every attempt reuses it, so clients drop repeats."""
    address = email.utils.parseaddr(settings.mail_from or "")[1]
    domain = address.rpartition("@")[2] or "opsdesk.invalid"
    return f"<notification.{delivery_id}.{event_id}@{domain}>"


# Sending -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendResult:
    """The outcome of one attempt; `error` is None when the receiver accepted it."""

    error: str | None
    retryable: bool = False
    status_code: int | None = None
    retry_after: float | None = None
    duration_ms: float = 0.0


async def post_json(
    client: httpx.AsyncClient,
    url: str,
    body: dict[str, Any],
    *,
    timeout_seconds: float,
    now: datetime,
) -> SendResult:
    """POST `body` to an incoming-webhook URL and classify the response.

    Network errors, timeouts, 408, 425, 429 and 5xx are worth retrying; other statuses are
    not, and neither is a URL that the client's outbound guard refuses (an internal
    address). Only the first RESPONSE_EXCERPT_BYTES of the answer are read.
    """
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    timeout = timeout_seconds
    begin = time.perf_counter()
    try:
        # httpx's timeout applies to each network operation. The outer deadline bounds
        # the whole attempt, so a receiver that sends a byte at a time cannot hold it.
        async with (
            asyncio.timeout(timeout),
            client.stream("POST", url, json=body, headers=headers, timeout=timeout) as response,
        ):
            status = response.status_code
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=now)
            excerpt = (await _read_excerpt(response)).decode("utf-8", errors="replace")
    except (httpx.TimeoutException, TimeoutError):
        return _result(f"timed out after {timeout:g} s", True, None, None, begin)
    except httpx.HTTPError as exc:
        return _result(f"{type(exc).__name__}: {exc}", True, None, None, begin)
    except OutboundBlocked as exc:
        return _result(f"destination refused: {exc}", False, None, None, begin)

    if 200 <= status < 300 and TEAMS_THROTTLED_MARKER not in excerpt:
        return _result(None, False, status, None, begin)
    retryable = status in RETRYABLE_STATUS or status >= 500 or 200 <= status < 300
    excerpt_line = " ".join(excerpt.split())[:200]
    error = f"HTTP {status}" + (f": {excerpt_line}" if excerpt_line else "")
    return _result(error, retryable, status, retry_after, begin)


def _result(
    error: str | None,
    retryable: bool,
    status: int | None,
    retry_after: float | None,
    begin: float,
) -> SendResult:
    return SendResult(
        error=error,
        retryable=retryable,
        status_code=status,
        retry_after=retry_after,
        duration_ms=(time.perf_counter() - begin) * 1000,
    )


async def _read_excerpt(response: httpx.Response) -> bytes:
    excerpt = b""
    async for chunk in response.aiter_bytes():
        excerpt += chunk
        if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
            break
    return excerpt[:RESPONSE_EXCERPT_BYTES]


async def send_email(settings: Settings, mail: EmailMessage) -> SendResult:
    """Send `mail` through the configured SMTP server; 5xx refusals are not retried."""
    begin = time.perf_counter()
    try:
        await send_message(settings, mail)
    except (aiosmtplib.SMTPException, OSError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        return _result(error, not is_permanent_failure(exc), None, None, begin)
    return _result(None, False, None, None, begin)
