"""The task API: lists for crews, one task, and stage moves that drive the operational clock.

Tasks below come from tickets created on Tuesday 10 March 2026 at 10:00 Lagos (09:00 UTC).
Operational clocks run on field_crews: Mon–Fri 07:00–12:00 and 13:00–17:00, Sat
08:00–13:00, Africa/Lagos (UTC+1). A high solar repair has 12h: Tue 10–12 and 13–17 (6h),
Wed 07–12 (11h), 13:00 + 1h, so it is due Wed 11 March 14:00 Lagos.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from api_support import (
    MakeUser,
    QueryValue,
    detail,
    error_fields,
    error_of,
    instant,
    lagos,
    row_counts,
    stored_task_clock,
    submit,
    timeline_kinds,
    utc,
)
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent

HIGH_SOLAR_DUE = utc(3, 11, 13)
STAGES = "done, in_progress, scheduled, todo, waiting_parts"


async def move(
    client: httpx.AsyncClient, headers: dict[str, str], reference: str, stage: str
) -> dict[str, Any]:
    response = await client.patch(
        f"/api/v1/tasks/{reference}", json={"stage": stage}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def task_references(
    client: httpx.AsyncClient, headers: dict[str, str], **params: QueryValue
) -> list[str]:
    response = await client.get("/api/v1/tasks", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["reference"] for item in response.json()["items"]]


# Lists


@pytest.fixture
async def four_tasks(client: httpx.AsyncClient, make_user: MakeUser) -> dict[str, str]:
    """Create TK-000001 … TK-000004 and return the headers of the agent who moved them.

    All are medium and were created on Tue 10 March at 10:00 Lagos.

    SR-000001 solar_installation: TK-000001 (site_survey, waiting_parts, so no due) and
        TK-000002 (installation, scheduled), solar 24h, due Thu 12 March 16:00 UTC
    SR-000002 hvac_repair: TK-000003 (todo), hvac 20h, due Thu 12 March 11:00 UTC
    SR-000003 electrical_repair: TK-000004 (done), electrical 16h, due Thu 12 March 07:00 UTC
    """
    agent = await make_user("agent")
    await submit(client, service_type="solar_installation")
    await submit(client, service_type="hvac_repair")
    await submit(client, service_type="electrical_repair")
    await move(client, agent.headers, "TK-000001", "waiting_parts")
    await move(client, agent.headers, "TK-000002", "scheduled")
    await move(client, agent.headers, "TK-000004", "done")
    return agent.headers


async def test_task_list_sorted_by_due_soonest_first(
    client: httpx.AsyncClient, four_tasks: dict[str, str]
) -> None:
    response = await client.get("/api/v1/tasks", headers=four_tasks)

    items = response.json()["items"]
    assert [item["reference"] for item in items] == [
        "TK-000004",
        "TK-000003",
        "TK-000002",
        "TK-000001",
    ]
    assert [instant(item["due_at"]) for item in items] == [
        utc(3, 12, 7),
        utc(3, 12, 11),
        utc(3, 12, 16),
        None,
    ]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"pipeline": "solar"}, ["TK-000002", "TK-000001"]),
        ({"pipeline": "hvac"}, ["TK-000003"]),
        ({"pipeline": "cctv"}, []),
        ({"stage": "todo"}, ["TK-000003"]),
        ({"stage": "scheduled"}, ["TK-000002"]),
        ({"stage": "waiting_parts"}, ["TK-000001"]),
        ({"stage": "done"}, ["TK-000004"]),
        ({"open": "true"}, ["TK-000003", "TK-000002", "TK-000001"]),
        ({"open": "false"}, ["TK-000004"]),
        ({"ticket": "SR-000001"}, ["TK-000002", "TK-000001"]),
        ({"ticket": "SR-000003"}, ["TK-000004"]),
        ({"team": "hvac_crew"}, ["TK-000003"]),
        ({"pipeline": "solar", "stage": "scheduled"}, ["TK-000002"]),
        ({"ticket": "SR-000001", "open": "false"}, []),
    ],
)
async def test_task_list_filters(
    client: httpx.AsyncClient,
    four_tasks: dict[str, str],
    params: dict[str, QueryValue],
    expected: list[str],
) -> None:
    references = await task_references(client, four_tasks, **params)

    assert references == expected


async def test_task_list_limit(client: httpx.AsyncClient, four_tasks: dict[str, str]) -> None:
    references = await task_references(client, four_tasks, limit=2)

    assert references == ["TK-000004", "TK-000003"]


async def test_task_list_filters_by_assignee(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    technician = await make_user("technician", email="emeka@example.com")
    await submit(client, service_type="solar_installation")

    response = await client.patch(
        "/api/v1/tasks/TK-000002",
        json={"assignee_email": "emeka@example.com"},
        headers=technician.headers,
    )
    mine = await task_references(client, technician.headers, assignee="emeka@example.com")
    nobody = await task_references(client, technician.headers, assignee="nobody@example.com")

    assert response.status_code == 200, response.text
    assert response.json()["assignee_email"] == "emeka@example.com"
    assert mine == ["TK-000002"]
    assert nobody == []


async def test_task_list_rejects_nul_in_filter(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client)

    response = await client.get(
        "/api/v1/tasks", params={"stage": "to\x00do"}, headers=agent.headers
    )

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["stage"]


async def test_task_list_rejects_malformed_ticket_filter(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")

    response = await client.get("/api/v1/tasks", params={"ticket": "42"}, headers=agent.headers)

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["ticket"]
    assert "SR-000123" in error_of(response)["message"]


# One task


async def test_get_task_shows_clock_and_ticket(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await submit(
        client,
        priority="high",
        contact_method="site_visit",
        site_address="4 Bourdillon Road, Ikoyi, Lagos",
    )
    technician = await make_user("technician")

    response = await client.get("/api/v1/tasks/TK-000001", headers=technician.headers)

    assert response.status_code == 200, response.text
    task = response.json()
    assert task["reference"] == "TK-000001"
    assert task["ticket"] == "SR-000001"
    assert task["template"] == "diagnosis"
    assert task["pipeline"] == "solar"
    assert task["stage"] == "todo"
    assert task["site_address"] == "4 Bourdillon Road, Ikoyi, Lagos"
    assert instant(task["due_at"]) == HIGH_SOLAR_DUE
    assert task["clock"]["task"] == "TK-000001"
    assert task["clock"]["calendar"] == "field_crews"
    assert task["clock"]["target_seconds"] == 12 * 3600
    assert instant(task["clock"]["due_at"]) == HIGH_SOLAR_DUE


@pytest.mark.parametrize("reference", ["TK-000099", "SR-000001", "task-1"])
async def test_unknown_task_not_found(
    client: httpx.AsyncClient, make_user: MakeUser, reference: str
) -> None:
    await submit(client)
    agent = await make_user("agent")

    response = await client.get(f"/api/v1/tasks/{reference}", headers=agent.headers)

    assert response.status_code == 404, response.text
    error = error_of(response)
    assert error["code"] == "not_found"
    assert reference in error["message"]


# Stage moves and the operational clock


async def test_waiting_parts_pauses_operational_clock(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    await submit(client, priority="high")
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 11))

    task = await move(client, agent.headers, "TK-000001", "waiting_parts")
    row = await stored_task_clock(db, "TK-000001")

    assert task["stage"] == "waiting_parts"
    assert task["clock"]["state"] == "paused"
    assert task["clock"]["business_seconds_elapsed"] == 3600
    assert task["due_at"] is None
    assert task["completed_at"] is None
    assert row.phase == "paused"
    assert row.due_at is None
    assert row.next_fire_at is None


async def test_leaving_waiting_parts_pushes_task_due(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    # Paused Tue 11:00 Lagos (1h used), resumed Wed 09:00 Lagos. Paused crew time:
    # Tue 11–12 (1h) + 13–17 (4h) + Wed 07–09 (2h) = 7h. The due moves from Wed 14:00 Lagos
    # by 7h of crew time: Wed 14–17 (3h), Thu 07:00 + 4h = Thu 12 March 11:00 Lagos.
    await submit(client, priority="high")
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 11))
    await move(client, agent.headers, "TK-000001", "waiting_parts")
    clock.set(lagos(3, 11, 9))

    task = await move(client, agent.headers, "TK-000001", "in_progress")
    row = await stored_task_clock(db, "TK-000001")

    assert task["clock"]["state"] == "running"
    assert task["clock"]["paused_business_seconds"] == 7 * 3600
    assert instant(task["due_at"]) == utc(3, 12, 10)
    assert row.due_at == utc(3, 12, 10)
    assert row.phase == "running"


async def test_done_stage_completes_task_and_meets_clock(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    # Done Wed 11 March 10:00 Lagos: Tue 10–12 and 13–17 (6h) + Wed 07–10 (3h) = 9h used
    # of 12h, before the due of Wed 14:00 Lagos.
    await submit(client, priority="high")
    agent = await make_user("agent")
    await move(client, agent.headers, "TK-000001", "in_progress")
    clock.set(lagos(3, 11, 10))

    task = await move(client, agent.headers, "TK-000001", "done")
    row = await stored_task_clock(db, "TK-000001")

    assert task["stage"] == "done"
    assert instant(task["completed_at"]) == utc(3, 11, 9)
    assert task["clock"]["state"] == "met"
    assert instant(task["clock"]["stopped_at"]) == utc(3, 11, 9)
    assert task["clock"]["business_seconds_elapsed"] == 9 * 3600
    assert row.phase == "stopped"
    assert row.breached_at is None
    assert row.next_fire_at is None


async def test_done_after_due_marks_clock_breached(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    await submit(client, priority="high")
    agent = await make_user("agent")
    clock.set(lagos(3, 11, 16))

    task = await move(client, agent.headers, "TK-000001", "done")

    assert task["clock"]["state"] == "breached"
    assert instant(task["clock"]["breached_at"]) == HIGH_SOLAR_DUE


async def test_stage_moves_recorded_on_ticket_timeline(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    await submit(client, priority="high")
    agent = await make_user("agent")
    for stage in ("scheduled", "waiting_parts", "in_progress", "done"):
        clock.advance(timedelta(minutes=20))
        await move(client, agent.headers, "TK-000001", stage)

    ticket = await detail(client, agent.headers, "SR-000001")
    async with db.read() as session:
        events = list((await session.scalars(select(OutboxEvent.type))).all())

    task_entries = [e for e in ticket["timeline"] if e["task"] == "TK-000001"]
    kinds = [e["kind"] for e in task_entries]
    assert kinds.count("task.stage_changed") == 4
    assert kinds.count("sla.paused") == 1
    assert kinds.count("sla.resumed") == 1
    assert kinds.count("sla.stopped") == 1
    moves = [
        (e["data"]["from"], e["data"]["to"])
        for e in task_entries
        if e["kind"] == "task.stage_changed"
    ]
    assert moves == [
        ("todo", "scheduled"),
        ("scheduled", "waiting_parts"),
        ("waiting_parts", "in_progress"),
        ("in_progress", "done"),
    ]
    assert events.count("task.stage_changed") == 4
    assert events.count("task.completed") == 1
    assert ticket["tasks"][0]["stage"] == "done"


async def test_unknown_stage_rejected_with_valid_stages(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    before = await row_counts(db)

    response = await client.patch(
        "/api/v1/tasks/TK-000001", json={"stage": "teleported"}, headers=agent.headers
    )

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert "'teleported'" in error["message"]
    assert STAGES in error["message"]
    assert await row_counts(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"stage": 5}, "stage"),
        ({"stage": "s" * 65}, "stage"),
        ({"column": "done"}, "column"),
        ({"assignee_email": "not-an-email"}, "assignee_email"),
        ({"assignee_email": "nobody@example.com"}, "assignee_email"),
    ],
)
async def test_invalid_task_update_rejected(
    client: httpx.AsyncClient,
    db: Database,
    make_user: MakeUser,
    body: dict[str, object],
    field: str,
) -> None:
    await submit(client)
    agent = await make_user("agent")
    before = await row_counts(db)

    response = await client.patch("/api/v1/tasks/TK-000001", json=body, headers=agent.headers)

    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid_input"
    assert error_fields(response) == [field]
    assert await row_counts(db) == before


async def test_same_stage_changes_nothing(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    before = await row_counts(db)

    task = await move(client, agent.headers, "TK-000001", "todo")

    assert task["stage"] == "todo"
    assert await row_counts(db) == before


async def test_technician_may_move_tasks(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await submit(client)
    technician = await make_user("technician", teams=["solar_crew"])
    agent = await make_user("agent")

    task = await move(client, technician.headers, "TK-000001", "in_progress")
    ticket = await detail(client, agent.headers, "SR-000001")

    assert task["stage"] == "in_progress"
    moved = [e for e in ticket["timeline"] if e["kind"] == "task.stage_changed"]
    assert len(moved) == 1
    assert moved[0]["actor"].startswith("user:")
    assert "task.stage_changed" in timeline_kinds(ticket)


async def test_reopened_task_clears_completion(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    await submit(client, priority="high")
    agent = await make_user("agent")
    await move(client, agent.headers, "TK-000001", "done")
    clock.set(lagos(3, 10, 11))

    task = await move(client, agent.headers, "TK-000001", "in_progress")

    assert task["completed_at"] is None
    assert task["clock"]["state"] == "running"
