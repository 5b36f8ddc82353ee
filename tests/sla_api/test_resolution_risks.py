"""resolution_risks: open tasks whose operational clocks endanger the ticket's resolution.

Tickets are created on Tuesday 10 March 2026 at 10:00 Lagos (09:00 UTC) by phone, so
the standard policy applies on lagos_office (Mon-Fri 08:00-18:00 Lagos). Task clocks run
on field_crews (Mon-Fri 07:00-12:00 and 13:00-17:00 Lagos). Lagos is UTC+1 all year.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sla_api_support import get_sla, sla_clock

from api.api_support import MakeUser, detail, patch_ticket, submit, utc
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.jobs import fire_due_clocks

AFTER_RESOLUTION = "operational due is after the ticket's resolution due"
BREACHED = "operational SLA breached"
WARNED = "operational SLA warning: most of its target is used"


async def move_task(
    client: httpx.AsyncClient, headers: dict[str, str], reference: str, stage: str
) -> dict[str, Any]:
    response = await client.patch(
        f"/api/v1/tasks/{reference}", json={"stage": stage}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def risks_of(
    client: httpx.AsyncClient, headers: dict[str, str], reference: str
) -> list[dict[str, Any]]:
    """Return the ticket's resolution_risks after checking both endpoints list the same."""
    from_sla: list[dict[str, Any]] = (await get_sla(client, headers, reference))["resolution_risks"]
    from_ticket = (await detail(client, headers, reference))["resolution_risks"]
    assert from_ticket == from_sla
    return from_sla


async def test_task_due_after_resolution_due(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    # Medium solar repair: resolution 24h on lagos_office ends Thu 12 March 14:00 Lagos
    # (Tue 8h + Wed 10h + Thu 6h). The task's 24h on field_crews ends three hours later,
    # at Thu 17:00 Lagos (Tue 6h + Wed 9h + Thu 9h).
    agent = await make_user("agent")
    await submit(client)

    risks = await risks_of(client, agent.headers, "SR-000001")

    assert risks == [
        {
            "task": "TK-000001",
            "title": "Diagnose and repair the solar system",
            "reason": AFTER_RESOLUTION,
            "operational_due": "2026-03-12T16:00:00Z",
            "resolution_due": "2026-03-12T13:00:00Z",
        }
    ]


async def test_equal_dues_are_no_risk(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    # Urgent electrical installation: resolution 4h on lagos_office ends Tue 14:00 Lagos.
    # Each task's 3h on field_crews runs 10:00-12:00 and 13:00-14:00 Lagos, so it ends at
    # the same instant, which is not after the resolution due.
    agent = await make_user("agent")
    await submit(client, service_type="electrical_installation", priority="urgent")

    sla = await get_sla(client, agent.headers, "SR-000001")

    assert sla_clock(sla, "resolution")["due_at"] == "2026-03-10T13:00:00Z"
    for task in ("TK-000001", "TK-000002"):
        assert sla_clock(sla, "operational", task=task)["due_at"] == "2026-03-10T13:00:00Z"
    assert sla["resolution_risks"] == []
    assert (await detail(client, agent.headers, "SR-000001"))["resolution_risks"] == []


async def test_paused_task_pushed_past_resolution(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client, service_type="electrical_installation", priority="urgent")

    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos, 1h of each task's 3h used
    await move_task(client, agent.headers, "TK-000001", "waiting_parts")
    await move_task(client, agent.headers, "TK-000002", "waiting_parts")
    clock.advance(timedelta(minutes=30))  # Tue 11:30 Lagos
    await move_task(client, agent.headers, "TK-000001", "in_progress")
    await move_task(client, agent.headers, "TK-000002", "done")
    sla = await get_sla(client, agent.headers, "SR-000001")

    # TK-000001 has 2h left from 11:30: 11:30-12:00 and 13:00-14:30 Lagos, half an hour
    # after the resolution due of 14:00 Lagos.
    survey = sla_clock(sla, "operational", task="TK-000001")
    assert survey["state"] == "running"
    assert survey["due_at"] == "2026-03-10T13:30:00Z"
    assert survey["paused_business_seconds"] == 1800
    # TK-000002 was paused as long and would end as late, but it is done, so it is no risk.
    installation = sla_clock(sla, "operational", task="TK-000002")
    assert installation["state"] == "met"
    assert installation["due_at"] == "2026-03-10T13:30:00Z"
    assert await risks_of(client, agent.headers, "SR-000001") == [
        {
            "task": "TK-000001",
            "title": "Survey the site and quote",
            "reason": AFTER_RESOLUTION,
            "operational_due": "2026-03-10T13:30:00Z",
            "resolution_due": "2026-03-10T13:00:00Z",
        }
    ]


async def test_task_still_paused_is_measured_now(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client, service_type="electrical_repair", priority="urgent")

    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await move_task(client, agent.headers, "TK-000001", "waiting_parts")
    at_pause = await risks_of(client, agent.headers, "SR-000001")
    clock.advance(timedelta(minutes=15))  # Tue 11:15 Lagos, still waiting for parts
    later = await risks_of(client, agent.headers, "SR-000001")

    # Resumed at 11:00 the task would still end at 14:00 Lagos, on the resolution due.
    assert at_pause == []
    # Resumed at 11:15 its last 2h run 11:15-12:00 and 13:00-14:15 Lagos.
    assert [(risk["task"], risk["operational_due"]) for risk in later] == [
        ("TK-000001", "2026-03-10T13:15:00Z")
    ]
    assert later[0]["reason"] == AFTER_RESOLUTION


async def test_breached_task_listed_completed_not(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock, db: Database, ctx: Context
) -> None:
    # Medium electrical installation: each task's 16h on field_crews runs Tue 6h, Wed 9h
    # and Thu 07:00-08:00 Lagos, well before the resolution due of Thu 14:00 Lagos.
    agent = await make_user("agent")
    await submit(client, service_type="electrical_installation")
    response = await client.post(
        "/api/v1/tickets/SR-000001/replies", json={"body": "Booked."}, headers=agent.headers
    )
    assert response.status_code == 201, response.text
    assert await risks_of(client, agent.headers, "SR-000001") == []

    clock.set(utc(3, 12, 7, 30))  # Thu 08:30 Lagos
    await fire_due_clocks(db, ctx)
    await move_task(client, agent.headers, "TK-000002", "done")
    sla = await get_sla(client, agent.headers, "SR-000001")

    for task in ("TK-000001", "TK-000002"):
        assert sla_clock(sla, "operational", task=task)["breached_at"] == "2026-03-12T07:00:00Z"
    assert sla_clock(sla, "operational", task="TK-000002")["state"] == "breached"
    assert sla_clock(sla, "resolution")["state"] == "running"
    assert await risks_of(client, agent.headers, "SR-000001") == [
        {
            "task": "TK-000001",
            "title": "Survey the site and quote",
            "reason": BREACHED,
            "operational_due": "2026-03-12T07:00:00Z",
            "resolution_due": "2026-03-12T13:00:00Z",
        }
    ]


async def test_warned_task_listed(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock, db: Database, ctx: Context
) -> None:
    # 75% of the 16h target is 12h: Tue 6h, Wed 07:00-12:00 (5h) and 13:00-14:00 Lagos.
    agent = await make_user("agent")
    await submit(client, service_type="electrical_repair")
    response = await client.post(
        "/api/v1/tickets/SR-000001/replies", json={"body": "Booked."}, headers=agent.headers
    )
    assert response.status_code == 201, response.text

    clock.set(utc(3, 11, 13, 30))  # Wed 14:30 Lagos
    await fire_due_clocks(db, ctx)
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert sla_clock(sla, "operational", task="TK-000001")["warned_at"] == "2026-03-11T13:00:00Z"
    assert await risks_of(client, agent.headers, "SR-000001") == [
        {
            "task": "TK-000001",
            "title": "Find and repair the electrical fault",
            "reason": WARNED,
            "operational_due": "2026-03-12T07:00:00Z",
            "resolution_due": "2026-03-12T13:00:00Z",
        }
    ]


async def test_resolved_ticket_lists_no_risk(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client)

    await patch_ticket(client, agent.headers, "SR-000001", status="resolved")
    sla = await get_sla(client, agent.headers, "SR-000001")

    # The resolution clock is met, so no task due can fall after it; the task is open
    # but neither warned nor breached.
    assert sla_clock(sla, "resolution")["state"] == "met"
    assert sla_clock(sla, "operational", task="TK-000001")["state"] == "running"
    assert await risks_of(client, agent.headers, "SR-000001") == []


async def test_risks_sorted_by_operational_due(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client, service_type="electrical_installation", priority="urgent")

    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await move_task(client, agent.headers, "TK-000001", "waiting_parts")
    await move_task(client, agent.headers, "TK-000002", "waiting_parts")
    clock.advance(timedelta(minutes=30))  # Tue 11:30 Lagos
    await move_task(client, agent.headers, "TK-000002", "in_progress")
    clock.advance(timedelta(minutes=15))  # Tue 11:45 Lagos
    await move_task(client, agent.headers, "TK-000001", "in_progress")

    risks = await risks_of(client, agent.headers, "SR-000001")

    # TK-000002 resumed first (due 14:30 Lagos), TK-000001 15 minutes later (14:45).
    assert [(risk["task"], risk["operational_due"]) for risk in risks] == [
        ("TK-000002", "2026-03-10T13:30:00Z"),
        ("TK-000001", "2026-03-10T13:45:00Z"),
    ]
