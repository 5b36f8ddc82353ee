"""Slack-compatible incoming-webhook messages for ticket and SLA events."""

from __future__ import annotations

from typing import Any


def slack_message(event_type: str, data: dict[str, Any], *, base_url: str) -> dict[str, Any]:
    """Return the JSON body of a Slack incoming webhook for one event."""
    reference = data.get("reference") or data.get("ticket") or ""
    link = f"<{base_url}/tickets/{reference}|{reference}>" if reference else ""
    if event_type == "ticket.created":
        text = (
            f":inbox_tray: New request {link}: {data.get('subject', '')} "
            f"({data.get('service_type')}, priority {data.get('priority')}, "
            f"via {data.get('contact_method')}). "
            f"First response due {data.get('first_response_due') or 'not set'}."
        )
    elif event_type == "sla.breached":
        text = (
            f":rotating_light: SLA breached on {link}: {data.get('metric', '').replace('_', ' ')} "
            f"was due {data.get('due_at')} (priority {data.get('priority')})."
        )
    elif event_type == "sla.warning":
        text = (
            f":warning: SLA warning on {link}: {data.get('metric', '').replace('_', ' ')} "
            f"is due {data.get('due_at')}."
        )
    elif event_type == "escalation.triggered":
        summary = data.get("summary", "")
        text = f":arrow_up: Escalation {data.get('escalation')} ran on {link}: {summary}"
    else:
        text = f"{event_type} on {link}".strip()
    return {"text": text}
