"""Who gets which channel for an event, and that a person gets an event once per channel."""

from __future__ import annotations

import pytest
from notification_support import (
    create_ticket,
    deliveries_of,
    inbox_of,
    notify,
    set_preferences,
    user_id_of,
)
from sqlalchemy import func, select

from opsdesk.automation.jobs import run_event_rules
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.notifications.models import Notification, NotificationDelivery
from opsdesk.notifications.service import notify_users
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.users.models import User
from opsdesk.workspace import Workspace, parse_workspace
from support import EXAMPLE_WORKSPACE


async def test_defaults_without_preferences(db: Database, ctx: Context, make_user) -> None:
    staff = await make_user("supervisor")
    user_id = await user_id_of(db, staff.email)
    ticket_id = await create_ticket(db, ctx)

    await notify(
        db, ctx, ticket_id=ticket_id, event_type="escalation.triggered", recipients=[[staff.email]]
    )

    deliveries = await deliveries_of(db, user_id)
    assert sorted(deliveries) == ["email", "inbox"]
    assert deliveries["inbox"].status == "sent"
    assert deliveries["email"].status == "pending"
    assert deliveries["email"].next_attempt_at == ctx.clock.now()
    [notification] = await inbox_of(db, user_id)
    assert notification.title == "Test notice"
    assert notification.ticket_id == ticket_id


async def test_defaults_give_rules_inbox_only(db: Database, ctx: Context, make_user) -> None:
    staff = await make_user("agent")
    user_id = await user_id_of(db, staff.email)
    ticket_id = await create_ticket(db, ctx)

    await notify(
        db, ctx, ticket_id=ticket_id, event_type="automation.rule_ran", recipients=[[staff.email]]
    )

    assert sorted(await deliveries_of(db, user_id)) == ["inbox"]


async def test_preferences_decide_channels(db: Database, ctx: Context, make_user) -> None:
    chatty = await make_user("supervisor")
    quiet = await make_user("supervisor")
    await set_preferences(
        db,
        ctx,
        chatty.email,
        {"*": ["inbox"], "escalation.triggered": ["slack", "teams"]},
        slack_webhook_url="https://hooks.slack.example/services/T1/B1/x",
        teams_webhook_url="https://teams.example/webhook/1",
    )
    # No inbox row: this person turned the inbox off and wants e-mail only.
    await set_preferences(db, ctx, quiet.email, {"escalation.triggered": ["email"]})
    ticket_id = await create_ticket(db, ctx)

    await notify(
        db,
        ctx,
        ticket_id=ticket_id,
        event_type="escalation.triggered",
        recipients=[[chatty.email, quiet.email]],
    )
    await notify(
        db,
        ctx,
        ticket_id=ticket_id,
        event_type="automation.rule_ran",
        recipients=[[chatty.email, quiet.email]],
    )

    chatty_id = await user_id_of(db, chatty.email)
    quiet_id = await user_id_of(db, quiet.email)
    async with db.read() as session:
        rows = (
            await session.execute(
                select(NotificationDelivery.user_id, NotificationDelivery.channel)
                .where(NotificationDelivery.user_id.in_([chatty_id, quiet_id]))
                .order_by(NotificationDelivery.id)
            )
        ).all()
    chatty_channels = sorted(channel for user_id, channel in rows if user_id == chatty_id)
    quiet_channels = sorted(channel for user_id, channel in rows if user_id == quiet_id)
    # Two events: escalation (inbox, slack, teams) and rule (inbox).
    assert chatty_channels == ["inbox", "inbox", "slack", "teams"]
    assert quiet_channels == ["email"]
    assert len(await inbox_of(db, chatty_id)) == 2
    assert await inbox_of(db, quiet_id) == []


async def test_same_event_same_person_once(db: Database, ctx: Context, make_user) -> None:
    boss = await make_user("supervisor")
    other = await make_user("supervisor")
    boss_id = await user_id_of(db, boss.email)
    ticket_id = await create_ticket(db, ctx)

    # Two notify actions of one step name the boss, one of them twice.
    event_id = await notify(
        db,
        ctx,
        ticket_id=ticket_id,
        event_type="escalation.triggered",
        recipients=[[boss.email, other.email], [boss.email, boss.email]],
    )
    # A later transaction links another notice to the same event.
    await notify(
        db,
        ctx,
        ticket_id=ticket_id,
        event_type="escalation.triggered",
        recipients=[[boss.email]],
        event_id=event_id,
    )

    deliveries = await deliveries_of(db, boss_id)
    assert sorted(deliveries) == ["email", "inbox"]
    assert len(await inbox_of(db, boss_id)) == 1
    other_inbox = await inbox_of(db, await user_id_of(db, other.email))
    assert len(other_inbox) == 1


async def test_separate_events_notify_again(db: Database, ctx: Context, make_user) -> None:
    staff = await make_user("supervisor")
    user_id = await user_id_of(db, staff.email)
    ticket_id = await create_ticket(db, ctx)

    for _ in range(2):
        await notify(
            db,
            ctx,
            ticket_id=ticket_id,
            event_type="escalation.triggered",
            recipients=[[staff.email]],
        )

    async with db.read() as session:
        emails = await session.scalar(
            select(func.count(NotificationDelivery.id)).where(
                NotificationDelivery.user_id == user_id, NotificationDelivery.channel == "email"
            )
        )
    assert emails == 2
    assert len(await inbox_of(db, user_id)) == 2


async def test_unlinked_notice_fails_commit(db: Database, ctx: Context, make_user) -> None:
    staff = await make_user("agent")
    ticket_id = await create_ticket(db, ctx)

    async def queue_without_linking() -> None:
        async with db.transaction() as session:
            user = (
                await session.execute(select(User).where(User.email == staff.email))
            ).scalar_one()
            notify_users(
                session,
                users=[user],
                kind="escalation.test",
                title="Lost",
                body="Never linked.",
                at=ctx.clock.now(),
                ticket_id=ticket_id,
            )

    with pytest.raises(RuntimeError, match="never linked to an event"):
        await queue_without_linking()

    assert await inbox_of(db, await user_id_of(db, staff.email)) == []


# Through escalations and rules ---------------------------------------------------------

DOUBLE_NOTIFY_ESCALATION = """
  - key: call_the_boss
    name: Call the boss twice over
    on: breach
    metrics: [first_response]
    actions:
      - {action: notify, role: supervisor}
      - {action: notify, user: boss@example.com}
      - {action: notify, team: solar_crew}
"""

DOUBLE_NOTIFY_RULE = """
rules:
  - key: tell_the_boss
    name: Tell the boss about new solar requests
    on: [ticket.created]
    actions:
      - {action: notify, role: supervisor, message: New solar request.}
      - {action: notify, user: boss@example.com}
"""


def workspace_with(escalations: str, rules: str = "") -> Workspace:
    example = EXAMPLE_WORKSPACE.read_text()
    start = example.index("\nescalations:\n")
    end = example.index("\nsubscriptions:\n")
    text = example[:start] + "\nescalations:\n" + escalations + example[end:] + rules
    return parse_workspace(text, source="notify-test.yaml")


@pytest.fixture
def escalation_ctx(ctx: Context) -> Context:
    return Context(
        workspace=workspace_with(DOUBLE_NOTIFY_ESCALATION), clock=ctx.clock, settings=ctx.settings
    )


@pytest.fixture
def rule_ctx(ctx: Context) -> Context:
    return Context(
        workspace=workspace_with(DOUBLE_NOTIFY_ESCALATION, DOUBLE_NOTIFY_RULE),
        clock=ctx.clock,
        settings=ctx.settings,
    )


async def test_escalation_notifies_each_person_once(
    db: Database, escalation_ctx: Context, clock: FrozenClock, make_user
) -> None:
    await make_user("supervisor", email="boss@example.com", teams=["solar_crew"])
    await make_user("supervisor", email="deputy@example.com")
    boss_id = await user_id_of(db, "boss@example.com")
    deputy_id = await user_id_of(db, "deputy@example.com")
    # High priority, created Tue 10:00 Lagos: first response is due at 10:00 UTC.
    ticket_id = await create_ticket(db, escalation_ctx)

    clock.set(clock.now().replace(hour=10, minute=0, second=30))
    await fire_due_clocks(db, escalation_ctx)

    boss = await deliveries_of(db, boss_id)
    assert sorted(boss) == ["email", "inbox"]
    [notification] = await inbox_of(db, boss_id)
    assert notification.ticket_id == ticket_id
    assert notification.kind == "escalation.call_the_boss"
    assert sorted(await deliveries_of(db, deputy_id)) == ["email", "inbox"]


async def test_rule_notifies_each_person_once(db: Database, rule_ctx: Context, make_user) -> None:
    await make_user("supervisor", email="boss@example.com")
    boss_id = await user_id_of(db, "boss@example.com")
    await create_ticket(db, rule_ctx)

    await run_event_rules(db, rule_ctx)

    assert sorted(await deliveries_of(db, boss_id)) == ["inbox"]
    [notification] = await inbox_of(db, boss_id)
    assert notification.kind == "rule.tell_the_boss"
    assert notification.body == "New solar request."
    async with db.read() as session:
        total = await session.scalar(select(func.count(Notification.id)))
    assert total == 1
