"""Pipeline boards over HTTP: columns, cards, moves and their errors."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select
from supervisor_support import HTML, create_ticket, find_all, find_one, sign_in_as, text_of

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.tasks.models import Task
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import TimelineEntry


def cards_by_stage(html: str) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for card in find_all(html, "task-card"):
        columns.setdefault(card.attrs["data-stage"], []).append(card.attrs["data-reference"])
    return columns


async def test_boards_list_counts(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    await create_ticket(db, ctx, service_type="solar_installation")
    await create_ticket(db, ctx, service_type="hvac_repair")
    await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get("/console/boards", headers=HTML)
    assert page.status_code == 200
    rows = [row.attrs["data-pipeline"] for row in find_all(page.text, "board-row")]
    assert rows == ["solar", "electrical", "hvac", "cctv", "smart_home"]
    assert text_of(page.text, "board-open-solar") == "2"
    assert text_of(page.text, "board-open-hvac") == "1"
    assert text_of(page.text, "board-open-cctv") == "0"


async def test_board_columns_and_cards(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await create_ticket(db, ctx, service_type="solar_installation")
    _, repair = await create_ticket(
        db, ctx, service_type="solar_repair", subject="Batteries <script>drain</script>"
    )
    await create_ticket(db, ctx, service_type="hvac_repair")
    await sign_in_as(client, db, ctx, "supervisor")

    page = await client.get("/console/boards/solar", headers=HTML)
    assert page.status_code == 200
    stages = [column.attrs["data-stage"] for column in find_all(page.text, "board-column")]
    assert stages == ["todo", "scheduled", "in_progress", "waiting_parts", "done"]
    assert cards_by_stage(page.text) == {"todo": ["TK-000001", "TK-000002", "TK-000003"]}
    assert text_of(page.text, "column-count-todo") == "3"

    card = find_one(page.text, "TK-000003", attribute="data-reference")
    assert repair in card.text
    assert "Diagnose and repair the solar system" in card.text
    assert "Batteries <script>drain</script>" in card.text
    assert "Batteries &lt;script&gt;drain&lt;/script&gt;" in page.text
    assert "Unassigned" in card.text
    assert "On track" in card.text
    assert "<script>drain" not in page.text


async def test_move_task_between_columns(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    ticket_id, _ = await create_ticket(db, ctx, service_type="solar_repair")
    signed_in = await sign_in_as(client, db, ctx, "supervisor")

    response = await client.post(
        "/console/boards/solar/tasks/TK-000001/stage",
        data={"stage": "scheduled", "csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/boards/solar?moved=TK-000001#task-TK-000001"
    page = await client.get(response.headers["location"], headers=HTML)
    assert cards_by_stage(page.text) == {"scheduled": ["TK-000001"]}
    assert text_of(page.text, "board-notice") == "Task TK-000001 moved."

    async with db.read() as session:
        task = (await session.execute(select(Task).where(Task.id == 1))).scalar_one()
        entry = (
            await session.execute(
                select(TimelineEntry).where(
                    TimelineEntry.ticket_id == ticket_id,
                    TimelineEntry.kind == "task.stage_changed",
                )
            )
        ).scalar_one()
    assert task.stage == "scheduled"
    assert entry.actor == f"user:{signed_in.user_id}"

    await client.post(
        "/console/boards/solar/tasks/TK-000001/stage",
        data={"stage": "done", "csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    page = await client.get("/console/boards/solar", headers=HTML)
    assert cards_by_stage(page.text) == {}
    assert "1 in the last 7 days" in text_of(page.text, "completed-done")


async def test_waiting_stage_pauses_card(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await create_ticket(db, ctx, service_type="solar_repair")
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    await client.post(
        "/console/boards/solar/tasks/TK-000001/stage",
        data={"stage": "waiting_parts", "csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    page = await client.get("/console/boards/solar/columns", headers=HTML)
    assert page.status_code == 200
    assert cards_by_stage(page.text) == {"waiting_parts": ["TK-000001"]}
    assert text_of(page.text, "card-state") == "Paused"


async def test_overdue_card_breached(
    client: httpx.AsyncClient, db: Database, ctx: Context, clock: FrozenClock
) -> None:
    await create_ticket(db, ctx, service_type="electrical_repair", priority="urgent")
    # Urgent electrical work has 3 working hours of the field crews' calendar.
    clock.advance(timedelta(days=2))
    await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get("/console/boards/electrical", headers=HTML)
    assert text_of(page.text, "card-state") == "Breached"


async def test_move_unknown_stage_shows_error(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await create_ticket(db, ctx, service_type="solar_repair")
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    response = await client.post(
        "/console/boards/solar/tasks/TK-000001/stage",
        data={"stage": "nowhere", "csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 422
    assert "Unknown stage in pipeline solar" in text_of(response.text, "board-error")
    assert cards_by_stage(response.text) == {"todo": ["TK-000001"]}


async def test_move_on_closed_ticket_conflicts(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    _, reference = await create_ticket(db, ctx, service_type="solar_repair")
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        await tickets.change_status(session, ctx, ticket, status="closed", actor="system")
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    page = await client.get("/console/boards/solar", headers=HTML)
    assert cards_by_stage(page.text) == {}

    response = await client.post(
        "/console/boards/solar/tasks/TK-000001/stage",
        data={"stage": "scheduled", "csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 409
    assert "closed tickets and their tasks cannot change" in text_of(response.text, "board-error")


async def test_move_task_of_other_pipeline(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await create_ticket(db, ctx, service_type="hvac_repair")
    signed_in = await sign_in_as(client, db, ctx, "supervisor")
    response = await client.post(
        "/console/boards/solar/tasks/TK-000001/stage",
        data={"stage": "scheduled", "csrf_token": signed_in.csrf_token},
        headers=HTML,
    )
    assert response.status_code == 404
    missing = await client.get("/console/boards/plumbing", headers=HTML)
    assert missing.status_code == 404


async def test_move_requires_csrf(client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
    await create_ticket(db, ctx, service_type="solar_repair")
    await sign_in_as(client, db, ctx, "supervisor")
    response = await client.post(
        "/console/boards/solar/tasks/TK-000001/stage", data={"stage": "scheduled"}, headers=HTML
    )
    assert response.status_code == 403
    async with db.read() as session:
        task = (await session.execute(select(Task).where(Task.id == 1))).scalar_one()
    assert task.stage == "todo"
