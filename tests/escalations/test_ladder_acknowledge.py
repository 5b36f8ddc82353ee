"""Acknowledging a clock stops its repeating levels: from the dashboard or the API."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest
from ladder_support import create, entries, fire_at, utc
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.sla.models import SlaClock
from opsdesk.users import auth
from opsdesk.users import service as users
from opsdesk.web.app import create_app

PASSWORD = "correct horse battery staple"
HTML = {"Accept": "text/html"}


@pytest.fixture
async def ladder_client(db: Database, ladder_ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings=ladder_ctx.settings,
        workspace=ladder_ctx.workspace,
        database=db,
        clock=ladder_ctx.clock,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def sign_in_supervisor(client: httpx.AsyncClient, db: Database, ctx: Context) -> str:
    """Create a supervisor, sign in through the login form and return the CSRF token."""
    async with db.transaction() as session:
        user = await users.create_user(
            session,
            email="sam@example.com",
            name="Sam",
            role="supervisor",
            teams=[],
            known_teams=[],
            at=ctx.clock.now(),
        )
        await auth.set_password(session, user=user, password=PASSWORD)
    form = await client.get("/console/login", headers=HTML)
    login_csrf = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert login_csrf is not None
    signed_in = await client.post(
        "/console/login",
        data={"email": "sam@example.com", "password": PASSWORD, "login_csrf": login_csrf[1]},
        headers=HTML,
    )
    assert signed_in.status_code == 303, signed_in.text
    dashboard = await client.get("/console/dashboard", headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', dashboard.text)
    assert csrf is not None
    return csrf[1]


async def resolution_clock(db: Database, ticket_id: int) -> SlaClock:
    async with db.read() as session:
        return (
            await session.execute(
                select(SlaClock).where(
                    SlaClock.ticket_id == ticket_id, SlaClock.metric == "resolution"
                )
            )
        ).scalar_one()


async def chases(db: Database, ticket_id: int) -> list[str]:
    triggered = await entries(db, ticket_id, "escalation.triggered")
    return [message for message in triggered if "level chase" in message]


async def test_dashboard_acknowledge_stops_repeats(
    ladder_client: httpx.AsyncClient, db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ladder_ctx)
    for instant in (utc(11, 8, 0), utc(11, 9, 0), utc(11, 10, 0), utc(11, 10, 30)):
        await fire_at(db, ladder_ctx, clock, instant)
    assert len(await chases(db, ticket_id)) == 2
    clock_row = await resolution_clock(db, ticket_id)
    assert clock_row.next_fire_level == "resolution_ladder.chase"
    assert clock_row.next_fire_at == utc(11, 11, 0)

    csrf = await sign_in_supervisor(ladder_client, db, ladder_ctx)
    alerts = await ladder_client.get("/console/dashboard/alerts", headers=HTML)
    assert f'data-clock-id="{clock_row.id}"' in alerts.text
    clock.set(utc(11, 10, 40))
    response = await ladder_client.post(
        f"/console/dashboard/alerts/{clock_row.id}/acknowledge",
        data={"csrf_token": csrf},
        headers=HTML,
    )
    assert response.status_code == 303, response.text

    acknowledged = await resolution_clock(db, ticket_id)
    assert acknowledged.acknowledged_at == utc(11, 10, 40)
    # Nothing is left to fire: the breach fired and every level fired or stopped.
    assert acknowledged.next_fire_at is None
    for instant in (utc(11, 11, 0), utc(11, 11, 30), utc(11, 14, 0)):
        await fire_at(db, ladder_ctx, clock, instant)
    assert len(await chases(db, ticket_id)) == 2
    async with db.read() as session:
        keys = sorted((await session.execute(select(EscalationFiring.level))).scalars())
        events = (
            (
                await session.execute(
                    select(OutboxEvent.payload).where(OutboxEvent.type == "escalation.acknowledged")
                )
            )
            .scalars()
            .all()
        )
    assert [key for key in keys if "chase" in key] == [
        "ladder:resolution_ladder.chase:1",
        "ladder:resolution_ladder.chase:2",
    ]
    assert len(events) == 1
    assert events[0]["metric"] == "resolution"
    assert events[0]["level"] == "breach"
    assert events[0]["by"] == "sam@example.com"


async def test_dashboard_acknowledge_before_the_chase(
    ladder_client: httpx.AsyncClient, db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    # Acknowledged after the breach and before the chase's first firing: the chase still
    # fires once, because the acknowledgement predates it, and then stops.
    ticket_id = await create(db, ladder_ctx)
    for instant in (utc(11, 8, 0), utc(11, 9, 0)):
        await fire_at(db, ladder_ctx, clock, instant)
    clock_row = await resolution_clock(db, ticket_id)

    csrf = await sign_in_supervisor(ladder_client, db, ladder_ctx)
    clock.set(utc(11, 9, 15))
    response = await ladder_client.post(
        f"/console/dashboard/alerts/{clock_row.id}/acknowledge",
        data={"csrf_token": csrf},
        headers=HTML,
    )
    assert response.status_code == 303, response.text

    for instant in (utc(11, 10, 0), utc(11, 10, 30), utc(11, 11, 0)):
        await fire_at(db, ladder_ctx, clock, instant)
    assert len(await chases(db, ticket_id)) == 1


async def test_acknowledged_warning_leaves_breach_repeats(
    ladder_client: httpx.AsyncClient,
    db: Database,
    ladder_ctx: Context,
    clock: FrozenClock,
    make_user,
) -> None:
    # The resolution warning falls at 75% of 10 working hours: Tue 17:30 Lagos (16:30 UTC).
    agent = await make_user("agent")
    ticket_id = await create(db, ladder_ctx)
    clock_id = (await resolution_clock(db, ticket_id)).id
    url = f"/api/v1/tickets/SR-000001/sla/clocks/{clock_id}/acknowledge"
    await fire_at(db, ladder_ctx, clock, utc(10, 16, 30))
    assert (await resolution_clock(db, ticket_id)).warned_at == utc(10, 16, 30)
    clock.set(utc(10, 16, 45))
    warning_ack = await ladder_client.post(url, headers=agent.headers)
    assert warning_ack.status_code == 200, warning_ack.text

    # Acknowledging the warning does not cover the breach, so the chase repeats...
    for instant in (utc(11, 8, 0), utc(11, 9, 0), utc(11, 10, 0), utc(11, 10, 30)):
        await fire_at(db, ladder_ctx, clock, instant)
    assert len(await chases(db, ticket_id)) == 2

    # ...until someone acknowledges the breach.
    clock.set(utc(11, 10, 45))
    breach_ack = await ladder_client.post(url, headers=agent.headers)
    assert breach_ack.status_code == 200, breach_ack.text
    for instant in (utc(11, 11, 0), utc(11, 12, 0)):
        await fire_at(db, ladder_ctx, clock, instant)
    assert len(await chases(db, ticket_id)) == 2
    assert len(await entries(db, ticket_id, "escalation.acknowledged")) == 2
