"""Escalation ladders: levels at offsets from the due, repeats until acknowledged."""

from __future__ import annotations

import re

import httpx
from ladder_support import create, entries, fire_at, utc
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.web.app import create_app


async def test_levels_fire_at_their_offsets(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    # Tue 10:00 Lagos, high priority: resolution 10 working hours, due Wed 10:00 Lagos
    # (09:00 UTC). One working hour before is Wed 09:00 Lagos (08:00 UTC).
    ticket_id = await create(db, ladder_ctx)
    await fire_at(db, ladder_ctx, clock, utc(11, 7, 59))
    assert not [
        message
        for message in await entries(db, ticket_id, "escalation.triggered")
        if "heads_up" in message
    ]
    await fire_at(db, ladder_ctx, clock, utc(11, 8, 0))
    triggered = await entries(db, ticket_id, "escalation.triggered")
    assert any("level heads_up" in message for message in triggered)

    await fire_at(db, ladder_ctx, clock, utc(11, 9, 0))
    triggered = await entries(db, ticket_id, "escalation.triggered")
    assert any("level at_due" in message for message in triggered)
    assert await entries(db, ticket_id, "sla.breached")


async def test_repeat_until_acknowledged(
    db: Database, ladder_ctx: Context, clock: FrozenClock, make_user
) -> None:
    ticket_id = await create(db, ladder_ctx)
    for instant in (utc(11, 8, 0), utc(11, 9, 0), utc(11, 10, 0), utc(11, 10, 30)):
        await fire_at(db, ladder_ctx, clock, instant)
    chases = [
        message
        for message in await entries(db, ticket_id, "escalation.triggered")
        if "chase" in message
    ]
    assert len(chases) == 2
    assert "repeat 1" in chases[1]

    app = create_app(
        settings=ladder_ctx.settings, workspace=ladder_ctx.workspace, database=db, clock=clock
    )
    agent = await make_user("agent")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        sla = (await client.get("/api/v1/tickets/SR-000001/sla", headers=agent.headers)).json()
        resolution = next(item for item in sla["clocks"] if item["metric"] == "resolution")
        clock.set(utc(11, 10, 40))
        response = await client.post(
            f"/api/v1/tickets/SR-000001/sla/clocks/{resolution['id']}/acknowledge",
            headers=agent.headers,
        )
        assert response.status_code == 200, response.text
    for instant in (utc(11, 11, 0), utc(11, 12, 0)):
        await fire_at(db, ladder_ctx, clock, instant)
    chases = [
        message
        for message in await entries(db, ticket_id, "escalation.triggered")
        if "chase" in message
    ]
    assert len(chases) == 2
    assert await entries(db, ticket_id, "escalation.acknowledged")
    async with db.read() as session:
        keys = sorted((await session.execute(select(EscalationFiring.level))).scalars())
    assert "ladder:resolution_ladder.chase:1" in keys
    assert "ladder:resolution_ladder.chase:2" in keys
    assert "ladder:resolution_ladder.chase:3" not in keys


async def test_unreachable_level_skipped(db: Database, ladder_ctx: Context) -> None:
    # A one-hour first-response target cannot have a level two hours before its due.
    ticket_id = await create(db, ladder_ctx)
    skipped = await entries(db, ticket_id, "escalation.skipped")
    assert len(skipped) == 1
    assert "impossible_ladder.early" in skipped[0]
    assert "before the clock started" in skipped[0]


async def test_resolved_clock_cancels_levels(
    db: Database, ladder_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id = await create(db, ladder_ctx)
    clock.set(utc(10, 12, 0))
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(session, ladder_ctx, ticket, status="resolved", actor="test")
    cancelled = await entries(db, ticket_id, "escalation.cancelled")
    assert len(cancelled) == 3
    assert all("clock stopped (met)" in message for message in cancelled)
    await fire_at(db, ladder_ctx, clock, utc(12, 12, 0))
    assert await entries(db, ticket_id, "escalation.triggered") == []


async def test_pause_replans_levels(db: Database, ladder_ctx: Context, clock: FrozenClock) -> None:
    ticket_id = await create(db, ladder_ctx)
    # Waiting on the customer for two working hours, Tue 12:00 to 14:00 Lagos, moves the
    # due and every level by two working hours: heads_up to Wed 11:00 Lagos (10:00 UTC).
    clock.set(utc(10, 11, 0))
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(
            session, ladder_ctx, ticket, status="waiting_on_customer", actor="test"
        )
    clock.set(utc(10, 13, 0))
    async with db.transaction() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        await tickets.change_status(session, ladder_ctx, ticket, status="open", actor="test")
    await fire_at(db, ladder_ctx, clock, utc(11, 9, 59))
    assert not [m for m in await entries(db, ticket_id, "escalation.triggered") if "heads_up" in m]
    await fire_at(db, ladder_ctx, clock, utc(11, 10, 0))
    assert [m for m in await entries(db, ticket_id, "escalation.triggered") if "heads_up" in m]


async def test_link_acknowledges(db: Database, ladder_ctx: Context, clock: FrozenClock) -> None:
    ticket_id = await create(db, ladder_ctx)
    await fire_at(db, ladder_ctx, clock, utc(11, 9, 0))
    assert await entries(db, ticket_id, "escalation.triggered")
    app = create_app(
        settings=ladder_ctx.settings, workspace=ladder_ctx.workspace, database=db, clock=clock
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as client,
    ):
        outbox = await client.get(
            "/api/v1/tickets/SR-000001"
        )  # no token: 401, just to prove routing
        assert outbox.status_code == 401
        async with db.read() as session:
            payloads = (
                (
                    await session.execute(
                        select(OutboxEvent.payload).where(
                            OutboxEvent.type == "escalation.triggered"
                        )
                    )
                )
                .scalars()
                .all()
            )
        url = payloads[0]["acknowledge_url"]
        path = re.sub(r"^https?://[^/]+", "", url)
        page = await client.get(path, headers={"accept": "text/html"})
        assert page.status_code == 200
        assert "Acknowledge" in page.text
        done = await client.post(path, headers={"accept": "text/html"})
        assert done.status_code == 200
        assert "Acknowledged" in done.text
        forged = await client.get(path[:-3] + "AAA", headers={"accept": "text/html"})
        assert forged.status_code == 404
    assert await entries(db, ticket_id, "escalation.acknowledged")
