"""Helpers of the escalation ladder tests: a workspace with ladders, tickets and firing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import TimelineEntry
from opsdesk.workspace import Workspace, parse_workspace
from support import EXAMPLE_WORKSPACE

LADDERS = """
  - key: resolution_ladder
    name: Resolution ladder
    metrics: [resolution]
    levels:
      - {key: heads_up, offset: -PT1H, actions: [{action: add_note, text: One working hour left.}]}
      - {key: at_due, offset: PT0S, actions: [{action: add_note, text: Due now.}]}
      - key: chase
        offset: PT1H
        clock: wall
        repeat_every: PT30M
        actions: [{action: add_note, text: Still breached.}]
  - key: impossible_ladder
    name: First response two hours ahead
    metrics: [first_response]
    levels:
      - {key: early, offset: -PT2H, actions: [{action: add_note, text: Never fires.}]}
"""


def ladder_workspace() -> Workspace:
    example = EXAMPLE_WORKSPACE.read_text()
    # Only the ladders under test: the example's breach escalation raises the priority,
    # which would move the dues these tests measure.
    start = example.index("\nescalations:\n")
    end = example.index("\nsubscriptions:\n")
    text = example[:start] + "\nescalations:\n" + LADDERS + example[end:]
    return parse_workspace(text, source="ladders.yaml")


def utc(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


async def create(db: Database, ctx: Context, **overrides: Any) -> int:
    values: dict[str, Any] = {
        "name": "Ada Obi",
        "email": "ada@example.com",
        "phone": "+234 803 555 0101",
        "service_type": "solar_repair",
        "contact_method": "email",
        "priority": "high",
        "subject": "Inverter trips",
        "description": "Every hour.",
    }
    async with db.transaction() as session:
        created = await tickets.create_ticket(
            session, ctx, tickets.NewTicket(**(values | overrides)), channel="api"
        )
        return created.ticket.id


async def entries(db: Database, ticket_id: int, kind: str) -> list[str]:
    async with db.read() as session:
        return list(
            (
                await session.execute(
                    select(TimelineEntry.message)
                    .where(TimelineEntry.ticket_id == ticket_id, TimelineEntry.kind == kind)
                    .order_by(TimelineEntry.at, TimelineEntry.id)
                )
            ).scalars()
        )


async def fire_at(db: Database, ctx: Context, clock: FrozenClock, instant: datetime) -> None:
    clock.set(instant)
    await fire_due_clocks(db, ctx)
