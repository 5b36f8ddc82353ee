"""SLA statistics and the CSV export: exact figures from clocks stopped at known instants."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from supervisor_support import (
    HTML,
    create_staff,
    create_ticket,
    set_clock,
    sign_in_as,
    text_of,
)

from opsdesk.clock import FrozenClock
from opsdesk.console import reports, supervisor_export
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.tickets import service as tickets
from opsdesk.users.service import users_with

LAGOS = ZoneInfo("Africa/Lagos")
LONDON = ZoneInfo("Europe/London")


def utc(month: int, day: int, hour: int, minute: int = 0, *, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


async def stop(
    db: Database, ticket_id: int, metric: str, *, at: datetime, breached_at: datetime | None = None
) -> None:
    await set_clock(
        db,
        ticket_id,
        metric,
        phase="stopped",
        stopped_at=at,
        breached_at=breached_at,
        next_fire_at=None,
        next_fire_kind=None,
    )


async def build_history(db: Database, ctx: Context) -> None:
    """Create tickets whose clocks stopped at known instants; now is Tue 10 Mar 2026 09:00 UTC.

    The 30-day period starts at Lagos midnight of 9 Feb, which is 8 Feb 23:00 UTC.
    """
    t1, _ = await create_ticket(db, ctx)
    await stop(db, t1, "first_response", at=utc(3, 9, 10))
    await stop(db, t1, "resolution", at=utc(3, 9, 12))

    t2, _ = await create_ticket(db, ctx)
    await stop(db, t2, "first_response", at=utc(3, 8, 13), breached_at=utc(3, 8, 12))
    await stop(db, t2, "resolution", at=utc(3, 8, 15))

    t3, _ = await create_ticket(db, ctx, service_type="hvac_repair", priority="high")
    await stop(db, t3, "first_response", at=utc(3, 5, 10))
    # Breached at 00:30 in Lagos on 7 Mar, which is 6 Mar in UTC.
    await stop(db, t3, "resolution", at=utc(3, 7, 9), breached_at=utc(3, 6, 23, 30))

    # Still running: counted nowhere.
    await create_ticket(db, ctx, service_type="electrical_repair", priority="urgent")

    # Stopped and breached at 00:30 Lagos on 9 Feb: inside the 30 days, though 8 Feb in UTC.
    t6, _ = await create_ticket(db, ctx)
    await stop(db, t6, "first_response", at=utc(2, 8, 23, 30), breached_at=utc(2, 8, 23, 10))

    # Stopped at 23:30 Lagos on 8 Feb: just outside the 30 days.
    t7, _ = await create_ticket(db, ctx, priority="low")
    await stop(db, t7, "first_response", at=utc(2, 8, 22, 30))

    # Stopped in January: inside the 90 days only.
    t5, _ = await create_ticket(db, ctx, priority="low")
    await stop(db, t5, "first_response", at=utc(1, 20, 10))


async def test_compliance_tables_exact(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await build_history(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    page = (await client.get("/console/dashboard?days=30", headers=HTML)).text

    expected = {
        "compliance-pipeline-solar-first_response": "33% (1 of 3)",
        "compliance-pipeline-solar-resolution": "100% (2 of 2)",
        "compliance-pipeline-hvac-first_response": "100% (1 of 1)",
        "compliance-pipeline-hvac-resolution": "0% (0 of 1)",
        "compliance-pipeline-electrical-first_response": "none stopped",
        "compliance-pipeline-all-first_response": "50% (2 of 4)",
        "compliance-pipeline-all-resolution": "67% (2 of 3)",
        "compliance-priority-medium-first_response": "33% (1 of 3)",
        "compliance-priority-medium-resolution": "100% (2 of 2)",
        "compliance-priority-high-first_response": "100% (1 of 1)",
        "compliance-priority-high-resolution": "0% (0 of 1)",
        "compliance-priority-low-first_response": "none stopped",
        "compliance-priority-urgent-resolution": "none stopped",
        "compliance-priority-all-first_response": "50% (2 of 4)",
    }
    for testid, text in expected.items():
        assert text_of(page, testid) == text, testid


async def test_compliance_longer_period(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await build_history(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    page = (await client.get("/console/dashboard?days=90", headers=HTML)).text
    assert text_of(page, "compliance-pipeline-solar-first_response") == "60% (3 of 5)"
    assert text_of(page, "compliance-priority-low-first_response") == "100% (2 of 2)"
    # 90 days are charted per week from Monday; 2 to 8 March holds t2 and t3.
    assert text_of(page, "over-time-2026-03-02-first_response") == "50% (1 of 2)"
    assert text_of(page, "over-time-2026-03-02-resolution") == "50% (1 of 2)"
    assert text_of(page, "over-time-2026-03-09-first_response") == "100% (1 of 1)"


async def test_compliance_per_local_day(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await build_history(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    page = (await client.get("/console/dashboard?days=30", headers=HTML)).text
    assert text_of(page, "over-time-2026-03-09-first_response") == "100% (1 of 1)"
    assert text_of(page, "over-time-2026-03-08-first_response") == "0% (0 of 1)"
    assert text_of(page, "over-time-2026-03-08-resolution") == "100% (1 of 1)"
    assert text_of(page, "over-time-2026-02-09-first_response") == "0% (0 of 1)"
    assert text_of(page, "over-time-2026-03-10-first_response") == "–"


async def test_short_period_excludes_older(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await build_history(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    page = (await client.get("/console/dashboard?days=7", headers=HTML)).text
    # 4 to 10 March in Lagos: t1, t2, t3 and nothing from February.
    assert text_of(page, "compliance-pipeline-solar-first_response") == "50% (1 of 2)"
    assert text_of(page, "compliance-pipeline-hvac-resolution") == "0% (0 of 1)"


async def test_breaches_by_lagos_hour(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await build_history(db, ctx)
    await sign_in_as(client, db, ctx, "supervisor")
    page = (await client.get("/console/dashboard?days=30", headers=HTML)).text
    counts = [int(text_of(page, f"breaches-hour-{hour}")) for hour in range(24)]
    # 23:10 and 23:30 UTC are 00:10 and 00:30 in Lagos (UTC+1); 12:00 UTC is 13:00.
    assert counts[0] == 2
    assert counts[13] == 1
    assert counts[23] == 0
    assert sum(counts) == 3


async def test_breaches_by_hour_across_dst(db: Database, ctx: Context) -> None:
    early, _ = await create_ticket(db, ctx)
    late, _ = await create_ticket(db, ctx)
    outside, _ = await create_ticket(db, ctx)
    # London moves from GMT to BST at 01:00 UTC on Sunday 29 March 2026.
    await stop(db, early, "first_response", at=utc(3, 28, 13), breached_at=utc(3, 28, 12, 15))
    await stop(db, late, "first_response", at=utc(3, 30, 13), breached_at=utc(3, 30, 12, 15))
    await stop(db, outside, "first_response", at=utc(3, 20, 13), breached_at=utc(3, 20, 12, 15))
    period = reports.period_ending(utc(3, 31, 12), 7, LONDON)
    async with db.read() as session:
        counts = await reports.breaches_by_hour(session, period, dialect=db.dialect)
    assert counts[12] == 1
    assert counts[13] == 1
    assert sum(counts) == 2


async def test_local_days_across_dst(db: Database, ctx: Context) -> None:
    before, _ = await create_ticket(db, ctx)
    after, _ = await create_ticket(db, ctx)
    # 23:30 UTC is 23:30 in London on 28 March (GMT) but 00:30 on 30 March (BST).
    await stop(db, before, "first_response", at=utc(3, 28, 23, 30))
    await stop(db, after, "first_response", at=utc(3, 29, 23, 30), breached_at=utc(3, 29, 20))
    period = reports.period_ending(utc(3, 31, 12), 7, LONDON)
    async with db.read() as session:
        buckets = await reports.compliance_over_time(session, period, dialect=db.dialect)
    shares = {bucket.start.isoformat(): bucket.shares["first_response"] for bucket in buckets}
    assert len(buckets) == 7
    assert shares["2026-03-28"] == reports.Share(met=1, total=1)
    assert shares["2026-03-29"] == reports.Share()
    assert shares["2026-03-30"] == reports.Share(met=0, total=1)


def test_offset_changes_find_exact_instant() -> None:
    changes = reports.offset_changes(LONDON, utc(3, 20, 0), utc(4, 5, 0))
    assert changes == [(utc(3, 20, 0), 0), (utc(3, 29, 1), 60)]
    assert reports.offset_changes(LAGOS, utc(1, 1, 0), utc(12, 31, 0)) == [(utc(1, 1, 0), 60)]


# CSV export


async def read_csv(client: httpx.AsyncClient, query: str = "") -> list[dict[str, str]]:
    response = await client.get(f"/console/reports/tickets.csv{query}", headers=HTML)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith('attachment; filename="tickets-')
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


async def reply(db: Database, ctx: Context, ticket_id: int, at: datetime) -> None:
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, f"SR-{ticket_id:06d}", lock=True)
        await tickets.add_agent_reply(
            session, ctx, ticket, author=None, body="On our way.", public=True, at=at
        )


async def test_csv_rows_and_sla_columns(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    met_id, met_ref = await create_ticket(db, ctx)
    late_id, late_ref = await create_ticket(db, ctx, service_type="hvac_repair")
    await reply(db, ctx, met_id, utc(3, 10, 9, 30))
    clock.set(utc(3, 10, 13, 30))
    await reply(db, ctx, late_id, utc(3, 10, 13, 30))
    await sign_in_as(client, db, ctx, "supervisor")

    rows = await read_csv(client)
    assert [row["reference"] for row in rows] == [met_ref, late_ref]
    met, late = rows
    assert met["created"] == "2026-03-10T10:00:00+01:00"
    assert met["status"] == "open"
    assert met["priority"] == "medium"
    assert met["service_type"] == "solar_repair"
    assert met["pipeline"] == "solar"
    assert met["contact_method"] == "phone_call"
    assert met["first_response_due"] == "2026-03-10T14:00:00+01:00"
    assert met["first_response_met"] == "yes"
    assert met["first_response_breached"] == "no"
    assert met["first_response_business_seconds"] == "1800"
    # Resolution still runs: 4 h 30 min of Lagos office hours since 10:00.
    assert met["resolution_met"] == ""
    assert met["resolution_breached"] == "no"
    assert met["resolution_business_seconds"] == "16200"
    assert met["assignee"] == ""

    assert late["pipeline"] == "hvac"
    assert late["first_response_met"] == "no"
    assert late["first_response_breached"] == "yes"
    assert late["first_response_business_seconds"] == "16200"


async def test_csv_quoting_and_formula_guard(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    subjects = {
        '=HYPERLINK("http://example.com","click")': '\'=HYPERLINK("http://example.com","click")',
        "+2+3": "'+2+3",
        "-1 day": "'-1 day",
        "@SUM(A1)": "'@SUM(A1)",
        'Roof, "east" side\nleaks': 'Roof, "east" side\nleaks',
        "Plain subject": "Plain subject",
    }
    for subject in subjects:
        await create_ticket(db, ctx, subject=subject)
    email, _ = await create_staff(db, ctx, "agent", email="=cmd@example.com")
    async with db.transaction() as session:
        (agent,) = await users_with(session, email=email)
        ticket = await tickets.access_ticket(session, ctx, "SR-000001", lock=True)
        await tickets.assign(session, ctx, ticket, actor="system", assignee=agent)
    await sign_in_as(client, db, ctx, "supervisor")

    response = await client.get("/console/reports/tickets.csv", headers=HTML)
    assert '"Roof, ""east"" side\nleaks"' in response.text
    assert response.text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(response.text, newline="")))
    assert [row["subject"] for row in rows] == list(subjects.values())
    assert rows[0]["assignee"] == "'=cmd@example.com"


async def test_csv_header(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    await sign_in_as(client, db, ctx, "admin")
    response = await client.get("/console/reports/tickets.csv", headers=HTML)
    assert response.text.splitlines()[0] == (
        "reference,subject,created,status,priority,service_type,pipeline,contact_method,"
        "first_response_due,first_response_met,first_response_breached,"
        "first_response_business_seconds,resolution_due,resolution_met,resolution_breached,"
        "resolution_business_seconds,assignee"
    )


async def test_csv_date_range(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    _, march = await create_ticket(db, ctx)
    _, february = await create_ticket(db, ctx, at=utc(2, 2, 9))
    # 23:30 UTC on 28 Feb is 00:30 on 1 March in Lagos.
    _, first_of_march = await create_ticket(db, ctx, at=utc(2, 28, 23, 30))
    await sign_in_as(client, db, ctx, "supervisor")

    rows = await read_csv(client, "?from=2026-03-01&to=2026-03-10")
    assert [row["reference"] for row in rows] == [march, first_of_march]
    rows = await read_csv(client, "?from=2026-02-01&to=2026-02-28")
    assert [row["reference"] for row in rows] == [february]
    # The default is the last 30 days, 9 Feb to 10 Mar.
    rows = await read_csv(client)
    assert [row["reference"] for row in rows] == [march, first_of_march]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=yesterday", "Invalid export range; give dates as YYYY-MM-DD"),
        ("?from=2026-03-10&to=2026-03-01", "is after to"),
    ],
)
async def test_csv_rejects_bad_range(
    client: httpx.AsyncClient, db: Database, ctx: Context, query: str, message: str
) -> None:
    await sign_in_as(client, db, ctx, "supervisor")
    response = await client.get(f"/console/reports/tickets.csv{query}", headers=HTML)
    assert response.status_code == 422
    assert message in response.text


async def test_csv_many_tickets_in_batches(
    client: httpx.AsyncClient, db: Database, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(supervisor_export, "BATCH_SIZE", 2)
    created = [await create_ticket(db, ctx) for _ in range(5)]
    await sign_in_as(client, db, ctx, "supervisor")
    rows = await read_csv(client)
    assert [row["reference"] for row in rows] == [reference for _, reference in created]
