"""The supervisor dashboard over HTTP: roles, alerts, acknowledgement, headline numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select
from supervisor_support import (
    HTML,
    create_staff,
    create_ticket,
    find_all,
    find_one,
    sign_in,
    sign_in_as,
    text_of,
)

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.sla.models import SlaClock
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import TimelineEntry


async def open_alert_count(client: httpx.AsyncClient) -> int:
    response = await client.get("/console/dashboard/alerts", headers=HTML)
    assert response.status_code == 200
    return len(find_all(response.text, "alert"))


SUPERVISOR_PAGES = [
    "/console/dashboard",
    "/console/dashboard/alerts",
    "/console/dashboard/summary",
    "/console/boards",
    "/console/boards/solar",
    "/console/boards/solar/columns",
    "/console/reports/tickets.csv",
]
ADMIN_PAGES = [
    "/console/admin",
    "/console/admin/users",
    "/console/admin/tokens",
    "/console/admin/webhooks",
]
# The ticket created at 10:00 Lagos (09:00 UTC) on the standard policy with priority medium
# has a first-response target of 4 working hours: warning at 12:00 UTC, due at 13:00 UTC.
WARNED = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)
BREACHED = datetime(2026, 3, 10, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("role", "supervisor_status", "admin_status"),
    [
        ("agent", 403, 403),
        ("technician", 403, 403),
        ("supervisor", 200, 403),
        ("admin", 200, 200),
    ],
)
async def test_pages_by_role(
    client: httpx.AsyncClient,
    db: Database,
    ctx: Context,
    role: str,
    supervisor_status: int,
    admin_status: int,
) -> None:
    await sign_in_as(client, db, ctx, role)
    for path in SUPERVISOR_PAGES:
        response = await client.get(path, headers=HTML)
        assert response.status_code == supervisor_status, path
    for path in ADMIN_PAGES:
        response = await client.get(path, headers=HTML)
        assert response.status_code == admin_status, path


@pytest.mark.parametrize("role", ["agent", "technician"])
async def test_posts_forbidden_below_supervisor(
    client: httpx.AsyncClient, db: Database, ctx: Context, role: str
) -> None:
    await create_ticket(db, ctx)
    signed_in = await sign_in_as(client, db, ctx, role)
    token = {"csrf_token": signed_in.csrf_token}
    posts = [
        ("/console/dashboard/alerts/1/acknowledge", token),
        ("/console/boards/solar/tasks/TK-000001/stage", token | {"stage": "done"}),
        (
            "/console/admin/users",
            token | {"email": "x@example.com", "password": "x" * 12, "role": "agent"},
        ),
        ("/console/admin/tokens", token | {"user_id": "1", "name": "x"}),
        ("/console/admin/webhooks", token | {"url": "https://example.com/h", "event_types": "*"}),
    ]
    for path, data in posts:
        response = await client.post(path, data=data, headers=HTML)
        assert response.status_code == 403, path


async def test_anonymous_redirected_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in [*SUPERVISOR_PAGES, *ADMIN_PAGES]:
        response = await client.get(path, headers=HTML)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/console/login?next="), path


async def test_supervisor_lands_on_dashboard(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await sign_in_as(client, db, ctx, "supervisor")
    response = await client.get("/console", headers=HTML)
    assert response.headers["location"] == "/console/dashboard"
    page = await client.get("/console/dashboard", headers=HTML)
    assert page.status_code == 200
    assert '<script src="/static/dashboard.js" defer></script>' in page.text
    alerts = find_one(page.text, "dashboard-alerts")
    assert alerts.attrs["data-live-src"] == "/console/dashboard/alerts"
    assert set(alerts.attrs["data-live-events"].split()) == {
        "sla.warning",
        "sla.breached",
        "escalation.triggered",
    }


async def test_no_alerts_before_firing(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await create_ticket(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    response = await client.get("/console/dashboard/alerts", headers=HTML)
    assert response.status_code == 200
    assert find_all(response.text, "alert") == []
    assert text_of(response.text, "alerts-count") == "0 open alerts"


async def test_warning_then_breach_alerts(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    _, reference = await create_ticket(db, ctx, subject="Panel <b>sparks</b> & smokes")
    await sign_in_as(client, db, ctx, "supervisor")

    clock.set(WARNED)
    assert await fire_due_clocks(db, ctx) >= 1
    response = await client.get("/console/dashboard/alerts", headers=HTML)
    alerts = find_all(response.text, "alert")
    assert [alert.attrs["data-level"] for alert in alerts] == ["warning"]
    assert alerts[0].attrs["data-reference"] == reference
    assert "First response" in alerts[0].text
    assert f'href="/console/tickets/{reference}"' in response.text

    clock.set(BREACHED)
    assert await fire_due_clocks(db, ctx) >= 1
    response = await client.get("/console/dashboard/alerts", headers=HTML)
    alerts = find_all(response.text, "alert")
    assert [alert.attrs["data-level"] for alert in alerts] == ["breach"]
    # The breach escalation of the example workspace raised the priority.
    assert "High" in alerts[0].text
    assert "Panel <b>sparks</b> & smokes" in alerts[0].text
    assert "Panel &lt;b&gt;sparks&lt;/b&gt; &amp; smokes" in response.text


async def test_alerts_newest_first(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    _, first = await create_ticket(db, ctx)
    clock.advance(timedelta(minutes=30))
    _, second = await create_ticket(db, ctx)
    clock.set(BREACHED + timedelta(hours=1))
    await fire_due_clocks(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    response = await client.get("/console/dashboard/alerts", headers=HTML)
    references = [alert.attrs["data-reference"] for alert in find_all(response.text, "alert")]
    assert references == [second, first]


async def test_acknowledge_removes_alert_for_everyone(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    ticket_id, _ = await create_ticket(db, ctx)
    first_email, _ = await create_staff(db, ctx, "supervisor", email="first@example.com")
    second_email, _ = await create_staff(db, ctx, "supervisor", email="second@example.com")
    clock.set(BREACHED)
    await fire_due_clocks(db, ctx)

    await sign_in(client, db, second_email)
    before = find_all((await client.get("/console/dashboard/alerts", headers=HTML)).text, "alert")
    assert len(before) == 1

    signed_in = await sign_in(client, db, first_email)
    clock_id = before[0].attrs["data-clock-id"]
    clock.advance(timedelta(minutes=5))
    response = await client.post(
        f"/console/dashboard/alerts/{clock_id}/acknowledge",
        data={"csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/dashboard#alerts"

    await sign_in(client, db, second_email)
    after = await client.get("/console/dashboard/alerts", headers=HTML)
    assert find_all(after.text, "alert") == []

    async with db.read() as session:
        row = await session.get(SlaClock, int(clock_id))
        assert row is not None
        assert row.acknowledged_at == BREACHED + timedelta(minutes=5)
        assert row.acknowledged_by_id == signed_in.user_id
        entries = list(
            (
                await session.execute(
                    select(TimelineEntry).where(
                        TimelineEntry.ticket_id == ticket_id,
                        TimelineEntry.kind == "sla.acknowledged",
                    )
                )
            ).scalars()
        )
    assert len(entries) == 1
    assert entries[0].message == "Breach of first response acknowledged by first@example.com"
    assert entries[0].actor == f"user:{signed_in.user_id}"
    assert entries[0].clock_id == int(clock_id)


async def test_acknowledge_twice_records_once(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    ticket_id, _ = await create_ticket(db, ctx)
    clock.set(BREACHED)
    await fire_due_clocks(db, ctx)
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get("/console/dashboard/alerts", headers=HTML)
    clock_id = find_one(page.text, "alert").attrs["data-clock-id"]
    for _ in range(2):
        response = await client.post(
            f"/console/dashboard/alerts/{clock_id}/acknowledge",
            data={"csrf_token": signed_in.csrf_token},
            headers=HTML,
        )
        assert response.status_code == 303
    async with db.read() as session:
        kinds = (
            await session.execute(
                select(TimelineEntry.kind).where(
                    TimelineEntry.ticket_id == ticket_id, TimelineEntry.kind == "sla.acknowledged"
                )
            )
        ).all()
    assert len(kinds) == 1


async def test_acknowledged_warning_returns_as_breach(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    await create_ticket(db, ctx)
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    clock.set(WARNED)
    await fire_due_clocks(db, ctx)
    page = await client.get("/console/dashboard/alerts", headers=HTML)
    clock_id = find_one(page.text, "alert").attrs["data-clock-id"]
    await client.post(
        f"/console/dashboard/alerts/{clock_id}/acknowledge",
        data={"csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    assert (
        find_all((await client.get("/console/dashboard/alerts", headers=HTML)).text, "alert") == []
    )

    clock.set(BREACHED)
    await fire_due_clocks(db, ctx)
    alerts = find_all((await client.get("/console/dashboard/alerts", headers=HTML)).text, "alert")
    assert [alert.attrs["data-level"] for alert in alerts] == ["breach"]


async def test_acknowledge_requires_csrf(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    await create_ticket(db, ctx)
    clock.set(BREACHED)
    await fire_due_clocks(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get("/console/dashboard/alerts", headers=HTML)
    clock_id = find_one(page.text, "alert").attrs["data-clock-id"]

    missing = await client.post(f"/console/dashboard/alerts/{clock_id}/acknowledge", headers=HTML)
    wrong = await client.post(
        f"/console/dashboard/alerts/{clock_id}/acknowledge",
        data={"csrf_token": "not-the-token"},
        headers=HTML,
    )
    assert missing.status_code == 403
    assert wrong.status_code == 403
    still = find_all((await client.get("/console/dashboard/alerts", headers=HTML)).text, "alert")
    assert len(still) == 1


async def test_acknowledge_with_script_header(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    await create_ticket(db, ctx)
    clock.set(BREACHED)
    await fire_due_clocks(db, ctx)
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get("/console/dashboard/alerts", headers=HTML)
    clock_id = find_one(page.text, "alert").attrs["data-clock-id"]
    response = await client.post(
        f"/console/dashboard/alerts/{clock_id}/acknowledge",
        headers={"X-CSRF-Token": signed_in.csrf_token},
    )
    assert response.status_code == 303
    assert (
        find_all((await client.get("/console/dashboard/alerts", headers=HTML)).text, "alert") == []
    )


async def test_acknowledge_unknown_clock(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    response = await client.post(
        "/console/dashboard/alerts/999999/acknowledge",
        data={"csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 404


async def test_headline_numbers(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    await create_ticket(db, ctx)
    clock.set(WARNED)
    await create_ticket(db, ctx)
    waiting_id, _ = await create_ticket(db, ctx)
    resolved_id, _ = await create_ticket(db, ctx)
    async with db.transaction() as session:
        for ticket_id, status in ((waiting_id, "waiting_on_customer"), (resolved_id, "resolved")):
            ticket = await tickets.access_ticket(session, ctx, f"SR-{ticket_id:06d}", lock=True)
            await tickets.change_status(session, ctx, ticket, status=status, actor="system")
    clock.set(BREACHED)
    await fire_due_clocks(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")

    response = await client.get("/console/dashboard/summary", headers=HTML)
    assert response.status_code == 200
    # Open: the first two tickets and the waiting one; the resolved one is not open.
    assert text_of(response.text, "headline-open") == "3"
    # The first ticket's first response breached at 13:00 UTC.
    assert text_of(response.text, "headline-breached") == "1"
    # The tickets created at 12:30 UTC warn at 15:30 UTC, after now.
    assert text_of(response.text, "headline-at-risk") == "0"
    # Waiting on the customer pauses the resolution clock of that ticket.
    assert text_of(response.text, "headline-paused") == "1"

    page = await client.get("/console/dashboard", headers=HTML)
    assert text_of(page.text, "headline-open") == "3"


async def test_headline_skips_closed_tickets(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    _, reference = await create_ticket(db, ctx, service_type="electrical_repair")
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        await tickets.change_status(session, ctx, ticket, status="closed", actor="system")
    clock.advance(timedelta(days=3))
    await sign_in_as(client, db, ctx, "supervisor")
    response = await client.get("/console/dashboard/summary", headers=HTML)
    assert text_of(response.text, "headline-open") == "0"
    assert text_of(response.text, "headline-breached") == "0"
    assert text_of(response.text, "headline-at-risk") == "0"


async def test_closing_ticket_stops_task_clocks(
    db: Database, ctx: Context, clock: FrozenClock
) -> None:
    _, reference = await create_ticket(db, ctx, service_type="electrical_repair")
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        await tickets.change_status(session, ctx, ticket, status="closed", actor="system")
    clock.advance(timedelta(days=3))
    await fire_due_clocks(db, ctx)
    async with db.read() as session:
        task_clock = (
            await session.execute(select(SlaClock).where(SlaClock.task_id.is_not(None)))
        ).scalar_one()
    assert task_clock.phase == "stopped"
    assert task_clock.breached_at is None


async def test_dashboard_rejects_unknown_period(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await sign_in_as(client, db, ctx, "supervisor")
    response = await client.get("/console/dashboard?days=12", headers=HTML)
    assert response.status_code == 422
    assert "choose 7, 30, 90 days" in response.text


async def test_charts_are_accessible_svg(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await create_ticket(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get("/console/dashboard?days=7", headers=HTML)
    assert page.status_code == 200
    for chart_id in ("chart-compliance", "chart-backlog", "chart-breach-hours"):
        svg = find_one(page.text, chart_id)
        assert svg.tag == "svg"
        assert svg.attrs["role"] == "img"
        assert svg.attrs["aria-labelledby"] == f"{chart_id}-title {chart_id}-desc"
        title = find_one(page.text, f"{chart_id}-title", attribute="id")
        assert title.tag == "title"
        assert title.text
    assert " style=" not in page.text
    assert "<style" not in page.text
    assert text_of(page.text, "backlog-solar") == "1"
