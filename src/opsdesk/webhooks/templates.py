"""Payload templates: a subscription may shape its JSON body with a Jinja2 template.

Templates run in Jinja2's immutable sandbox, which refuses access to private attributes
and to methods that change data, and autoescaping is off because the output is JSON, not
HTML. A template sees `event` (``id``, ``type``, ``timestamp``, ``data``) and `data`, a
shortcut for ``event.data``. Its output must be valid JSON and at most
MAX_RENDERED_BYTES long.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from opsdesk.events.catalog import EVENT_TYPES

MAX_TEMPLATE_CHARS = 20_000
MAX_RENDERED_BYTES = 256 * 1024
# NOTE: nothing bounds rendering time. The sandbox caps each range() at 100,000 items, but
# nested loops that output nothing can still keep a worker busy; only admins set templates.

_environment = ImmutableSandboxedEnvironment(autoescape=False, keep_trailing_newline=False)


class TemplateFault(Exception):
    """A payload template failed to compile or render, or rendered something not JSON."""


def compile_template(source: str) -> Any:
    """Compile a template; raise TemplateFault naming the line of a syntax error."""
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateFault(
            f"the template has {len(source)} characters; at most {MAX_TEMPLATE_CHARS} are allowed"
        )
    try:
        return _environment.from_string(source)
    except TemplateSyntaxError as exc:
        raise TemplateFault(f"syntax error on line {exc.lineno}: {exc.message}") from exc


def render_payload(source: str, event: dict[str, Any]) -> bytes:
    """Render `source` for `event` and return the body to send.

    Raise TemplateFault when the template fails, the output is too long, or it is not
    valid JSON.
    """
    template = compile_template(source)
    parts: list[str] = []
    size = 0
    try:
        for chunk in template.generate(event=event, data=event.get("data", {})):
            size += len(chunk.encode())
            if size > MAX_RENDERED_BYTES:
                raise TemplateFault(
                    f"the rendered body is longer than {MAX_RENDERED_BYTES} bytes; render less data"
                )
            parts.append(chunk)
    except TemplateFault:
        raise
    # A template is code an admin wrote, so any error it raises (an undefined value passed
    # to tojson, a sandbox refusal, a division by zero) is the template's fault.
    except Exception as exc:
        raise TemplateFault(f"rendering failed: {type(exc).__name__}: {exc}") from exc
    text = "".join(parts).strip()
    try:
        json.loads(text)
    except ValueError as exc:
        excerpt = text[:120] + ("…" if len(text) > 120 else "")
        raise TemplateFault(f"the output is not valid JSON ({exc}): {excerpt!r}") from exc
    return text.encode()


_SAMPLE_TICKET: dict[str, Any] = {
    "reference": "SR-000001",
    "subject": "Inverter beeps and shuts down",
    "description": "Since yesterday the inverter shuts down every hour.",
    "status": "new",
    "priority": "high",
    "service_type": "solar_repair",
    "pipeline": "solar",
    "contact_method": "phone_call",
    "channel": "portal",
    "team": "solar_crew",
    "requester": {"name": "Ada Obi", "email": "ada@example.com", "phone": "+234 803 555 0101"},
    "site_address": None,
    "created_at": "2026-03-10T09:00:00+00:00",
    "first_response_due": "2026-03-10T13:00:00+00:00",
    "resolution_due": "2026-03-12T17:00:00+00:00",
    "external_ref": None,
}
_SAMPLE_TASK: dict[str, Any] = {
    "reference": "SR-000001-T1",
    "ticket": "SR-000001",
    "title": "Site visit",
    "template": "site_visit",
    "pipeline": "solar",
    "stage": "scheduled",
    "priority": "high",
    "team": "solar_crew",
    "assignee": "tech@example.com",
    "due_at": "2026-03-11T17:00:00+00:00",
    "site_address": "12 Marina Road, Lagos",
}
_SAMPLE_CLOCK: dict[str, Any] = {
    "reference": "SR-000001",
    "metric": "first_response",
    "cycle": 0,
    "task": None,
    "priority": "high",
    "due_at": "2026-03-10T13:00:00+00:00",
    "target_seconds": 14400,
    "policy": "standard",
    "calendar": "lagos_office",
}
_CHANGE = {"reference": "SR-000001", "from": "new", "to": "open", "reason": None}
_MESSAGE = {"reference": "SR-000001", "public": True, "author": "agent@example.com", "body": "…"}

SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "ticket.created": _SAMPLE_TICKET,
    "ticket.updated": {"reference": "SR-000001", "field": "tags", "added": "vip", "tags": ["vip"]},
    "ticket.status_changed": _CHANGE,
    "ticket.priority_changed": _CHANGE | {"from": "medium", "to": "high"},
    "ticket.assigned": {
        "reference": "SR-000001",
        "team": "solar_crew",
        "assignee": "agent@example.com",
        "reason": None,
    },
    "ticket.replied": _MESSAGE,
    "ticket.customer_replied": {"reference": "SR-000001", "body": "…"},
    "ticket.note_added": _MESSAGE | {"public": False},
    "task.created": _SAMPLE_TASK,
    "task.updated": _SAMPLE_TASK,
    "task.stage_changed": _SAMPLE_TASK | {"from": "new"},
    "task.completed": _SAMPLE_TASK | {"from": "on_site", "stage": "done"},
    "sla.warning": _SAMPLE_CLOCK,
    "sla.breached": _SAMPLE_CLOCK,
    "escalation.triggered": {
        "reference": "SR-000001",
        "escalation": "first_response_breach",
        "name": "First response breached",
        "level": "breach",
        "metric": "first_response",
        "cycle": 0,
        "task": None,
        "summary": "notified supervisors",
        "notified": ["supervisor@example.com"],
        "priority": "high",
        "acknowledge_url": "https://opsdesk.example.com/ack/…",
    },
    "escalation.acknowledged": {
        "reference": "SR-000001",
        "metric": "first_response",
        "level": "breach",
        "by": "supervisor@example.com",
    },
    "automation.rule_ran": {
        "reference": "SR-000001",
        "rule": "vip_first",
        "name": "VIP first",
        "trigger": "ticket.created",
        "outcomes": ["priority set to urgent"],
        "deliver_to": [],
    },
    "webhook.disabled": {
        "subscription": "sub_01a242fd08aa915ddcd3b7af5acd2bc8",
        "host": "erp.example.com",
        "reason": "the receiver answered 410 Gone",
        "failing_since": "2026-03-10T09:00:00+00:00",
    },
}


def sample_event(event_type: str) -> dict[str, Any]:
    """Return an event of `event_type` shaped as deliveries are, with made-up data."""
    return {
        "id": "evt_sample",
        "type": event_type,
        "timestamp": datetime(2026, 3, 10, 9, 0, tzinfo=UTC).isoformat(),
        "data": SAMPLE_DATA.get(event_type, {}),
    }


def check_template(source: str, event_types: list[str]) -> None:
    """Render `source` against a sample of each event type it will receive.

    Raise TemplateFault naming the first event type it fails for.
    """
    compile_template(source)
    for event_type in EVENT_TYPES if "*" in event_types else event_types:
        try:
            render_payload(source, sample_event(event_type))
        except TemplateFault as exc:
            raise TemplateFault(f"for a sample {event_type} event, {exc}") from exc
