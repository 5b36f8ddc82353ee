"""Slack-compatible incoming-webhook messages for ticket and SLA events."""

from __future__ import annotations

from typing import Any


def escape(value: object) -> str:
    """Escape &, < and > in text that came from users or data.

    Slack reads ``<...>`` as a link or a mention, so a request subject such as
    ``<!channel>`` would otherwise notify everyone in the channel.
    """
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(event_type: str, data: dict[str, Any], *, base_url: str) -> dict[str, Any]:
    """Return the JSON body of a Slack incoming webhook for one event."""
    reference = escape(data.get("reference") or data.get("ticket") or "")
    link = f"<{base_url}/tickets/{reference}|{reference}>" if reference else ""
    metric = escape(data.get("metric") or "").replace("_", " ")
    if event_type == "ticket.created":
        text = (
            f":inbox_tray: New request {link}: {escape(data.get('subject', ''))} "
            f"({escape(data.get('service_type'))}, priority {escape(data.get('priority'))}, "
            f"via {escape(data.get('contact_method'))}). "
            f"First response due {escape(data.get('first_response_due') or 'not set')}."
        )
    elif event_type == "sla.breached":
        text = (
            f":rotating_light: SLA breached on {link}: {metric} "
            f"was due {escape(data.get('due_at'))} (priority {escape(data.get('priority'))})."
        )
    elif event_type == "sla.warning":
        text = f":warning: SLA warning on {link}: {metric} is due {escape(data.get('due_at'))}."
    elif event_type == "escalation.triggered":
        summary = escape(data.get("summary", ""))
        text = f":arrow_up: Escalation {escape(data.get('escalation'))} ran on {link}: {summary}"
        acknowledge_url = data.get("acknowledge_url")
        if acknowledge_url:
            text += f" <{acknowledge_url}|Acknowledge>"
    else:
        text = f"{escape(event_type)} on {link}".strip()
    return {"text": text}
