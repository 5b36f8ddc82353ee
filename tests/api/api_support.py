"""Shared request bodies, instants and checks for the HTTP API tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import func, select

from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.sla.models import SlaClock
from opsdesk.tasks.models import Task
from opsdesk.tickets.models import IdempotencyKey, Ticket, TicketMessage, TimelineEntry

LAGOS = ZoneInfo("Africa/Lagos")
"""Time zone of both calendars of the example workspace: UTC+1 all year, no DST."""

REQUEST: dict[str, Any] = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "service_type": "solar_repair",
    "contact_method": "phone_call",
    "priority": "medium",
    "subject": "Inverter beeps and shuts down",
    "description": "Since yesterday the inverter shuts down every hour.",
}

COUNTED_TABLES = {
    "tickets": Ticket,
    "sla_clocks": SlaClock,
    "tasks": Task,
    "timeline_entries": TimelineEntry,
    "outbox_events": OutboxEvent,
    "ticket_messages": TicketMessage,
    "idempotency_keys": IdempotencyKey,
}

QueryValue = str | int | bool | list[str]
"""A query parameter value as the tests pass it to httpx."""


class StaffUser(Protocol):
    """A user created by the `make_user` fixture."""

    @property
    def email(self) -> str: ...

    @property
    def headers(self) -> dict[str, str]: ...


MakeUser = Callable[..., Awaitable[StaffUser]]

MISSING = object()
"""Pass as a value to `request_body` to leave that field out."""


def lagos(month: int, day: int, hour: int, minute: int = 0, *, year: int = 2026) -> datetime:
    """Return a wall-clock instant in Lagos as an aware datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=LAGOS)


def utc(month: int, day: int, hour: int, minute: int = 0, *, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def instant(text: str | None) -> datetime | None:
    """Parse an instant as the API writes it (ISO 8601 with Z)."""
    return None if text is None else datetime.fromisoformat(text)


def request_body(**changes: Any) -> dict[str, Any]:
    """Return a copy of REQUEST with fields replaced, or removed where the value is MISSING."""
    body = dict(REQUEST)
    for name, value in changes.items():
        if value is MISSING:
            body.pop(name, None)
        else:
            body[name] = value
    return body


async def row_counts(db: Database) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.read() as session:
        for name, model in COUNTED_TABLES.items():
            count = await session.scalar(select(func.count()).select_from(model))
            counts[name] = int(count or 0)
    return counts


async def submit(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    """Post a request built from REQUEST and return the 201 response body."""
    response = await client.post("/api/v1/requests", json=request_body(**changes))
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def detail(
    client: httpx.AsyncClient, headers: dict[str, str], reference: str
) -> dict[str, Any]:
    response = await client.get(f"/api/v1/tickets/{reference}", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def patch_ticket(
    client: httpx.AsyncClient, headers: dict[str, str], reference: str, **fields: Any
) -> dict[str, Any]:
    response = await client.patch(f"/api/v1/tickets/{reference}", json=fields, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ticket_clock(ticket: dict[str, Any], metric: str) -> dict[str, Any]:
    """Return the ticket's own clock of `metric` from a ticket detail body."""
    matches: list[dict[str, Any]] = [
        c for c in ticket["clocks"] if c["metric"] == metric and c["task"] is None
    ]
    assert len(matches) == 1, ticket["clocks"]
    return matches[0]


def timeline_kinds(ticket: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in ticket["timeline"]]


async def stored_clock(db: Database, reference: str, metric: str) -> SlaClock:
    """Load the ticket's clock row of `metric` (not a task clock) straight from the database."""
    ticket_id = int(reference.split("-")[1])
    async with db.read() as session:
        row = await session.scalar(
            select(SlaClock).where(
                SlaClock.ticket_id == ticket_id,
                SlaClock.task_id.is_(None),
                SlaClock.metric == metric,
            )
        )
    assert row is not None, f"{reference} has no {metric} clock"
    return row


async def stored_task_clock(db: Database, task_reference: str) -> SlaClock:
    task_id = int(task_reference.split("-")[1])
    async with db.read() as session:
        row = await session.scalar(select(SlaClock).where(SlaClock.task_id == task_id))
    assert row is not None, f"{task_reference} has no operational clock"
    return row


def error_of(response: httpx.Response) -> dict[str, Any]:
    """Return the `error` object of an error response after checking the shared shape.

    Every error body is {"error": {"code": str, "message": str, "fields"?: [...]}} where
    each field entry names the field and says what is wrong with it.
    """
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) <= {"code", "message", "fields"}, error
    assert isinstance(error["code"], str), error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    for entry in error.get("fields", []):
        assert set(entry) == {"field", "message"}, entry
        assert entry["message"], entry
    return error


def error_fields(response: httpx.Response) -> list[str]:
    return [entry["field"] for entry in error_of(response).get("fields", [])]
