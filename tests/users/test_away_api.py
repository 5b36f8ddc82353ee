"""Marking staff away through the API, and automatic assignment skipping them until then."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opsdesk.automation.jobs import run_event_rules
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.users.models import User
from opsdesk.web.app import create_app
from opsdesk.workspace import Workspace, parse_workspace
from support import EXAMPLE_WORKSPACE

RULES = """
rules:
  - key: solar_round_robin
    name: Assign solar repairs in turn
    on: [ticket.created]
    when: {field: service_type, equals: solar_repair}
    actions:
      - {action: assign, team: solar_crew, strategy: round_robin}
  - key: hvac_least_loaded
    name: Assign air conditioning repairs to the least loaded
    on: [ticket.created]
    when: {field: service_type, equals: hvac_repair}
    actions:
      - {action: assign, team: hvac_crew, strategy: least_loaded}
"""


async def away_until(db: Database, email: str) -> datetime | None:
    async with db.read() as session:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one()
        return user.away_until


async def test_mark_myself_away_and_back(
    client: httpx.AsyncClient, make_user, db: Database, clock: FrozenClock
) -> None:
    technician = await make_user("technician", email="ike@example.com")

    response = await client.put(
        "/api/v1/users/me/away",
        json={"until": "2026-03-12T17:30:00+01:00"},
        headers=technician.headers,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"email": "ike@example.com", "away_until": "2026-03-12T16:30:00Z"}
    assert await away_until(db, "ike@example.com") == datetime(2026, 3, 12, 16, 30, tzinfo=UTC)

    back = await client.delete("/api/v1/users/me/away", headers=technician.headers)

    assert back.status_code == 204
    assert await away_until(db, "ike@example.com") is None
    again = await client.delete("/api/v1/users/me/away", headers=technician.headers)
    assert again.status_code == 204


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"until": "2026-03-12T17:30:00"}, "has no time zone; add an offset such as +01:00 or Z"),
        ({"until": "2026-03-10T08:59:00Z"}, "is not in the future (now 2026-03-10T09:00:00+00:00)"),
        ({"until": "2026-03-10T09:00:00Z"}, "is not in the future"),
        ({"until": "9999-12-31T23:00:00-05:00"}, "is out of range"),
        ({"until": "next week"}, "datetime"),
        ({}, "field required"),
        ({"until": "2026-03-12T17:30:00Z", "note": "holiday"}, "unknown field"),
    ],
)
async def test_away_rejects_invalid_until(
    client: httpx.AsyncClient, make_user, db: Database, body: dict[str, Any], message: str
) -> None:
    agent = await make_user("agent", email="ada@example.com")

    response = await client.put("/api/v1/users/me/away", json=body, headers=agent.headers)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert message in error["message"] + " ".join(field["message"] for field in error["fields"])
    assert {field["field"] for field in error["fields"]} <= {"until", "note"}
    assert await away_until(db, "ada@example.com") is None


async def test_supervisor_marks_another_user(
    client: httpx.AsyncClient, make_user, db: Database
) -> None:
    supervisor = await make_user("supervisor")
    admin = await make_user("admin")
    await make_user("technician", email="bola@example.com")

    response = await client.put(
        "/api/v1/users/Bola@Example.com/away",
        json={"until": "2026-03-20T08:00:00Z"},
        headers=supervisor.headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "bola@example.com"
    assert await away_until(db, "bola@example.com") == datetime(2026, 3, 20, 8, tzinfo=UTC)

    cleared = await client.delete("/api/v1/users/bola@example.com/away", headers=admin.headers)
    assert cleared.status_code == 204
    assert await away_until(db, "bola@example.com") is None


async def test_only_managers_mark_others(
    client: httpx.AsyncClient, make_user, db: Database
) -> None:
    agent = await make_user("agent", email="ada@example.com")
    technician = await make_user("technician")
    supervisor = await make_user("supervisor")
    await make_user("technician", email="bola@example.com")
    body = {"until": "2026-03-20T08:00:00Z"}

    for staff in (agent, technician):
        response = await client.put(
            "/api/v1/users/bola@example.com/away", json=body, headers=staff.headers
        )
        assert response.status_code == 403, response.text
        assert "may mark only their own account away" in response.json()["error"]["message"]
        deleted = await client.delete("/api/v1/users/bola@example.com/away", headers=staff.headers)
        assert deleted.status_code == 403
    assert await away_until(db, "bola@example.com") is None

    own = await client.put("/api/v1/users/ada@example.com/away", json=body, headers=agent.headers)
    assert own.status_code == 200, own.text

    missing = await client.put(
        "/api/v1/users/nobody@example.com/away", json=body, headers=supervisor.headers
    )
    assert missing.status_code == 404
    assert "nobody@example.com" in missing.json()["error"]["message"]
    anonymous = await client.put("/api/v1/users/me/away", json=body)
    assert anonymous.status_code == 401


@pytest.fixture
def rules_ctx(clock: FrozenClock, ctx: Context) -> Context:
    workspace: Workspace = parse_workspace(
        EXAMPLE_WORKSPACE.read_text() + RULES, source="away-rules.yaml"
    )
    return Context(workspace=workspace, clock=clock, settings=ctx.settings)


@pytest.fixture
async def rules_client(db: Database, rules_ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings=rules_ctx.settings,
        workspace=rules_ctx.workspace,
        database=db,
        clock=rules_ctx.clock,
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def create_ticket(db: Database, ctx: Context, service_type: str) -> int:
    new = tickets.NewTicket(
        name="Ada Obi",
        email="ada@example.com",
        phone="+234 803 555 0101",
        service_type=service_type,
        contact_method="email",
        priority="medium",
        subject="Unit stopped",
        description="Since this morning.",
    )
    async with db.transaction() as session:
        created = await tickets.create_ticket(session, ctx, new, channel="api")
        return created.ticket.id


async def assignee_of(db: Database, ctx: Context, ticket_id: int) -> str | None:
    while await run_event_rules(db, ctx):
        pass
    async with db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        if ticket.assignee_id is None:
            return None
        user = await session.get(User, ticket.assignee_id)
        assert user is not None
        return user.email


async def test_round_robin_skips_away_until_it_passes(
    rules_client: httpx.AsyncClient, make_user, db: Database, rules_ctx: Context, clock: FrozenClock
) -> None:
    first = await make_user("technician", email="ike@example.com", teams=["solar_crew"])
    await make_user("technician", email="bola@example.com", teams=["solar_crew"])
    until = clock.now() + timedelta(hours=2)
    marked = await rules_client.put(
        "/api/v1/users/me/away", json={"until": until.isoformat()}, headers=first.headers
    )
    assert marked.status_code == 200, marked.text

    during = [await create_ticket(db, rules_ctx, "solar_repair") for _ in range(2)]
    assert [await assignee_of(db, rules_ctx, ticket_id) for ticket_id in during] == [
        "bola@example.com",
        "bola@example.com",
    ]

    clock.set(until)
    after = [await create_ticket(db, rules_ctx, "solar_repair") for _ in range(2)]
    assert [await assignee_of(db, rules_ctx, ticket_id) for ticket_id in after] == [
        "ike@example.com",
        "bola@example.com",
    ]


async def test_least_loaded_skips_away_until_it_passes(
    rules_client: httpx.AsyncClient, make_user, db: Database, rules_ctx: Context, clock: FrozenClock
) -> None:
    # Ike has no tickets, so least-loaded assignment picks him whenever he is not away.
    await make_user("technician", email="ike@example.com", teams=["hvac_crew"])
    await make_user("technician", email="bola@example.com", teams=["hvac_crew"])
    supervisor = await make_user("supervisor")
    until = clock.now() + timedelta(days=1)
    marked = await rules_client.put(
        "/api/v1/users/ike@example.com/away",
        json={"until": until.isoformat()},
        headers=supervisor.headers,
    )
    assert marked.status_code == 200, marked.text

    during = await create_ticket(db, rules_ctx, "hvac_repair")
    assert await assignee_of(db, rules_ctx, during) == "bola@example.com"

    clock.set(until + timedelta(minutes=1))
    after = await create_ticket(db, rules_ctx, "hvac_repair")
    assert await assignee_of(db, rules_ctx, after) == "ike@example.com"


async def test_assignment_resumes_after_coming_back(
    rules_client: httpx.AsyncClient, make_user, db: Database, rules_ctx: Context, clock: FrozenClock
) -> None:
    ike = await make_user("technician", email="ike@example.com", teams=["hvac_crew"])
    await make_user("technician", email="bola@example.com", teams=["hvac_crew"])
    until = clock.now() + timedelta(days=3)
    await rules_client.put(
        "/api/v1/users/me/away", json={"until": until.isoformat()}, headers=ike.headers
    )
    during = await create_ticket(db, rules_ctx, "hvac_repair")
    assert await assignee_of(db, rules_ctx, during) == "bola@example.com"

    back = await rules_client.delete("/api/v1/users/me/away", headers=ike.headers)
    assert back.status_code == 204

    after = await create_ticket(db, rules_ctx, "hvac_repair")
    assert await assignee_of(db, rules_ctx, after) == "ike@example.com"
