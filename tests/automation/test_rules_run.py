"""Automation rules run on committed events and after waits, through the real services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from opsdesk.automation.jobs import fire_rule_timers, run_event_rules
from opsdesk.automation.models import RuleTimer
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket, TicketMessage, TimelineEntry
from opsdesk.users import service as users
from opsdesk.users.models import User
from opsdesk.workspace import Workspace, parse_workspace
from support import EXAMPLE_WORKSPACE

RULES = """
rules:
  - key: tag_vip_solar
    name: Tag urgent solar requests
    on: [ticket.created]
    when:
      all:
        - {field: pipeline, equals: solar}
        - {field: priority, in: [high, urgent]}
    actions:
      - {action: add_tag, tag: hot}
      - {action: assign, team: solar_crew, strategy: round_robin}
  - key: note_after_hours
    name: Note requests that arrive after hours
    on: [ticket.created]
    when: {field: business_hours, equals: false}
    actions:
      - {action: add_note, text: Arrived outside office hours.}
    stop: true
  - key: never_after_stop
    name: Never reached after a stop
    on: [ticket.created]
    when: {field: business_hours, equals: false}
    actions:
      - {action: add_tag, tag: unreachable}
  - key: retag_on_update
    name: Tag again on every update
    on: [ticket.updated]
    actions:
      - {action: add_tag, tag: touched}
  - key: remind_waiting
    name: Remind the customer after two working hours
    after: {status: waiting_on_customer, duration: PT2H}
    actions:
      - {action: email_customer, text: We are still waiting for your answer.}
      - {action: add_note, text: Reminder sent.}
"""


@pytest.fixture
def rules_workspace() -> Workspace:
    return parse_workspace(EXAMPLE_WORKSPACE.read_text() + RULES, source="rules-test.yaml")


@pytest.fixture
def rules_ctx(rules_workspace: Workspace, clock: FrozenClock, ctx: Context) -> Context:
    return Context(workspace=rules_workspace, clock=clock, settings=ctx.settings)


def request(**overrides: Any) -> tickets.NewTicket:
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
    return tickets.NewTicket(**(values | overrides))


async def add_member(db: Database, ctx: Context, email: str, team: str) -> int:
    async with db.transaction() as session:
        user = await users.create_user(
            session,
            email=email,
            name=email,
            role="technician",
            teams=[team],
            known_teams=[known.key for known in ctx.workspace.spec.teams],
            at=ctx.clock.now(),
        )
        return user.id


async def create(db: Database, ctx: Context, **overrides: Any) -> int:
    async with db.transaction() as session:
        created = await tickets.create_ticket(session, ctx, request(**overrides), channel="api")
        return created.ticket.id


async def load(db: Database, ticket_id: int) -> Ticket:
    async with db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def timeline_kinds(db: Database, ticket_id: int, kind: str) -> list[str]:
    async with db.read() as session:
        return list(
            (
                await session.execute(
                    select(TimelineEntry.message).where(
                        TimelineEntry.ticket_id == ticket_id, TimelineEntry.kind == kind
                    )
                )
            ).scalars()
        )


async def drain(db: Database, ctx: Context) -> None:
    for _ in range(20):
        if await run_event_rules(db, ctx) == 0:
            return
    raise AssertionError("rules kept producing events")


async def test_event_rule_tags_and_assigns(db: Database, rules_ctx: Context) -> None:
    first = await add_member(db, rules_ctx, "ike@example.com", "solar_crew")
    second = await add_member(db, rules_ctx, "bola@example.com", "solar_crew")
    one = await create(db, rules_ctx)
    two = await create(db, rules_ctx)
    await drain(db, rules_ctx)

    ticket_one, ticket_two = await load(db, one), await load(db, two)
    assert "hot" in ticket_one.tags
    assert [ticket_one.assignee_id, ticket_two.assignee_id] == [first, second]
    ran = await timeline_kinds(db, one, "rule.ran")
    assert any("Tag urgent solar requests" in message for message in ran)


async def test_condition_mismatch_does_nothing(db: Database, rules_ctx: Context) -> None:
    ticket_id = await create(db, rules_ctx, priority="low")
    await drain(db, rules_ctx)
    assert "hot" not in (await load(db, ticket_id)).tags


async def test_round_robin_skips_away_members(
    db: Database, rules_ctx: Context, clock: FrozenClock
) -> None:
    away = await add_member(db, rules_ctx, "away@example.com", "solar_crew")
    present = await add_member(db, rules_ctx, "here@example.com", "solar_crew")
    async with db.transaction() as session:
        user = await session.get(User, away)
        assert user is not None
        user.away_until = clock.now() + timedelta(days=2)
    ticket_id = await create(db, rules_ctx)
    await drain(db, rules_ctx)
    assert (await load(db, ticket_id)).assignee_id == present


async def test_rule_does_not_retrigger_itself(db: Database, rules_ctx: Context) -> None:
    ticket_id = await create(db, rules_ctx, priority="low")
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.add_tag(
            session, rules_ctx, ticket, tag="manual", actor="test", at=rules_ctx.clock.now()
        )
    await drain(db, rules_ctx)

    ran = await timeline_kinds(db, ticket_id, "rule.ran")
    # The person's tag triggers the rule once; the rule's own tag does not trigger it again.
    assert sum("Tag again on every update" in message for message in ran) == 1
    assert (await load(db, ticket_id)).tags == ["manual", "touched"]


async def test_stop_ends_rules_for_the_event(
    db: Database, rules_ctx: Context, clock: FrozenClock
) -> None:
    clock.set(datetime(2026, 3, 10, 20, 0, tzinfo=UTC))  # 21:00 in Lagos, after closing
    ticket_id = await create(db, rules_ctx, priority="low")
    await drain(db, rules_ctx)
    ticket = await load(db, ticket_id)
    assert "unreachable" not in ticket.tags
    async with db.read() as session:
        notes = (
            (
                await session.execute(
                    select(TicketMessage.body).where(
                        TicketMessage.ticket_id == ticket_id, TicketMessage.public.is_(False)
                    )
                )
            )
            .scalars()
            .all()
        )
    assert "Arrived outside office hours." in notes


async def test_wait_rule_fires_after_business_time(
    db: Database, rules_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, rules_ctx, priority="low")
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(
            session, rules_ctx, ticket, status="waiting_on_customer", actor="test"
        )
    # Tue 10:00 in Lagos plus two working hours is 12:00 local, 11:00 UTC.
    clock.set(datetime(2026, 3, 10, 10, 59, 59, tzinfo=UTC))
    assert await fire_rule_timers(db, rules_ctx) == 0
    clock.set(datetime(2026, 3, 10, 11, 0, tzinfo=UTC))
    assert await fire_rule_timers(db, rules_ctx) == 1

    async with db.read() as session:
        messages = (
            (
                await session.execute(
                    select(TicketMessage)
                    .where(TicketMessage.ticket_id == ticket_id)
                    .order_by(TicketMessage.id)
                )
            )
            .scalars()
            .all()
        )
        replied = (
            await session.execute(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.ticket_id == ticket_id, OutboxEvent.type == "ticket.replied")
            )
        ).scalar_one()
    reminder = [message for message in messages if message.author_kind == "system"]
    assert [message.body for message in reminder] == ["We are still waiting for your answer."]
    assert reminder[0].public is True
    assert replied == 1
    assert await timeline_kinds(db, ticket_id, "rule.ran")


async def test_leaving_status_cancels_wait(
    db: Database, rules_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, rules_ctx, priority="low")
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(
            session, rules_ctx, ticket, status="waiting_on_customer", actor="test"
        )
        await tickets.change_status(session, rules_ctx, ticket, status="open", actor="test")
    clock.advance(timedelta(days=3))
    assert await fire_rule_timers(db, rules_ctx) == 0
    async with db.read() as session:
        statuses = (await session.execute(select(RuleTimer.status))).scalars().all()
    assert statuses == ["cancelled"]


async def test_failed_rule_is_recorded(db: Database, clock: FrozenClock, ctx: Context) -> None:
    failing = (
        RULES.split("\nrules:\n")[0]
        + """
rules:
  - key: reopen_closed
    name: Reopen on every reply
    on: [ticket.note_added]
    actions:
      - {action: set_field, field: status, value: open}
  - key: tag_after
    name: Tag after the failing rule
    on: [ticket.note_added]
    actions:
      - {action: add_tag, tag: still_ran}
"""
    )
    workspace = parse_workspace(EXAMPLE_WORKSPACE.read_text() + failing, source="failing.yaml")
    rules_ctx = Context(workspace=workspace, clock=clock, settings=ctx.settings)
    ticket_id = await create(db, rules_ctx, priority="low")
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.add_agent_reply(
            session, rules_ctx, ticket, author=None, body="closing", public=False
        )
        await tickets.change_status(session, rules_ctx, ticket, status="closed", actor="test")
    await drain(db, rules_ctx)
    failed = await timeline_kinds(db, ticket_id, "rule.failed")
    assert len(failed) == 1
    assert "closed" in failed[0]
    ticket = await load(db, ticket_id)
    assert ticket.status == "closed"
    assert "still_ran" in ticket.tags
