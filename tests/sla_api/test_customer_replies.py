"""POST /api/v1/requests/status/{token}/replies: the customer replies through the status link.

Tickets are solar repairs by phone, priority medium, created on Tuesday 10 March 2026 at
10:00 Lagos (09:00 UTC), so the standard policy applies on lagos_office (Mon-Fri
08:00-18:00 Lagos, UTC+1): resolution 24h, due Thu 12 March 14:00 Lagos (13:00 UTC).
The next-response tests use a copy of the example workspace whose standard policy gives
medium tickets a next_response target of 2h.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sla_api_support import (
    client_for,
    clock_entry,
    clock_kinds,
    context_with,
    get_sla,
    load_workspace_variant,
    sla_clock,
    status_token,
)

from api.api_support import (
    MakeUser,
    detail,
    error_fields,
    error_of,
    patch_ticket,
    row_counts,
    submit,
)
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database

STANDARD_MEDIUM = "      medium: {first_response: PT4H, resolution: PT24H}\n"
WITH_NEXT_RESPONSE = (
    "      medium: {first_response: PT4H, next_response: PT2H, resolution: PT24H}\n"
)


async def customer_reply(
    client: httpx.AsyncClient, token: str, body: str = "The inverter beeped again."
) -> httpx.Response:
    return await client.post(f"/api/v1/requests/status/{token}/replies", json={"body": body})


async def agent_reply(client: httpx.AsyncClient, headers: dict[str, str], reference: str) -> None:
    response = await client.post(
        f"/api/v1/tickets/{reference}/replies", json={"body": "We are on it."}, headers=headers
    )
    assert response.status_code == 201, response.text


@pytest.fixture
async def next_response_client(
    db: Database, ctx: Context, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app whose medium tickets have a 2h next_response target."""
    workspace = load_workspace_variant(
        tmp_path, [(STANDARD_MEDIUM, WITH_NEXT_RESPONSE)], "next-response"
    )
    async with client_for(db, context_with(ctx, workspace)) as client:
        yield client


async def test_reply_shows_on_status_page(client: httpx.AsyncClient) -> None:
    token = status_token(await submit(client))

    response = await customer_reply(client, token, "  It beeps at night too.  ")
    page = await client.get(f"/api/v1/requests/status/{token}")

    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert body["reference"] == "SR-000001"
    assert body["status"] == "new"
    assert [message["body"] for message in body["messages"]] == [
        "Since yesterday the inverter shuts down every hour.",
        "It beeps at night too.",
    ]
    assert body["messages"][1]["author"] == "customer"
    assert body["messages"][1]["created_at"] == "2026-03-10T09:00:00Z"
    assert page.status_code == 200, page.text
    assert page.json() == body


async def test_reply_shows_to_agents(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    agent = await make_user("agent")
    token = status_token(await submit(client))

    response = await customer_reply(client, token, "Here is the serial number: 4471.")
    ticket = await detail(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    last = ticket["messages"][-1]
    assert last["author_kind"] == "customer"
    assert last["public"] is True
    assert last["body"] == "Here is the serial number: 4471."
    replied = [entry for entry in ticket["timeline"] if entry["kind"] == "ticket.customer_replied"]
    assert [entry["actor"] for entry in replied] == ["customer"]


async def test_waiting_ticket_reopens_and_resumes(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    token = status_token(await submit(client))
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")
    clock.advance(timedelta(hours=1))  # Tue 12:00 Lagos

    response = await customer_reply(client, token)
    sla = await get_sla(client, agent.headers, "SR-000001")
    ticket = await detail(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    assert ticket["status"] == "open"
    resolution = sla_clock(sla, "resolution")
    assert resolution["state"] == "running"
    assert resolution["business_seconds_elapsed"] == 3600
    assert resolution["paused_business_seconds"] == 3600
    # One hour paused pushes the due from Thu 14:00 to Thu 15:00 Lagos.
    assert resolution["due_at"] == "2026-03-12T14:00:00Z"
    assert response.json()["resolution_due"] == "2026-03-12T14:00:00Z"
    assert clock_kinds(resolution) == ["sla.started", "sla.paused", "sla.resumed"]
    resumed = clock_entry(resolution, "sla.resumed")
    assert resumed["at"] == "2026-03-10T11:00:00Z"
    assert resumed["data"]["cause"] == "status changed to open"
    changed = [entry for entry in ticket["timeline"] if entry["kind"] == "ticket.status_changed"]
    assert changed[-1]["actor"] == "customer"
    assert changed[-1]["data"] == {
        "from": "waiting_on_customer",
        "to": "open",
        "reason": "customer replied",
    }


async def test_resolved_ticket_reopens(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    token = status_token(await submit(client))
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, agent.headers, "SR-000001", status="resolved")
    clock.advance(timedelta(hours=2))  # Tue 13:00 Lagos

    response = await customer_reply(client, token, "It is still broken.")
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    resolution = sla_clock(sla, "resolution")
    assert resolution["state"] == "running"
    assert resolution["business_seconds_elapsed"] == 3600
    # 23h left from Tue 13:00 Lagos: Tue 5h, Wed 10h, Thu 08:00-16:00 Lagos.
    assert resolution["due_at"] == "2026-03-12T15:00:00Z"
    assert clock_kinds(resolution) == ["sla.started", "sla.stopped", "sla.resumed"]
    assert clock_entry(resolution, "sla.resumed")["data"]["cause"] == "reopened"
    assert (await detail(client, agent.headers, "SR-000001"))["resolved_at"] is None


async def test_open_ticket_cycle_without_target(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    token = status_token(await submit(client))
    await agent_reply(client, agent.headers, "SR-000001")

    response = await customer_reply(client, token)
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    assert clock_kinds(sla_clock(sla, "resolution")) == ["sla.started"]
    # The example workspace sets no next_response target. The cycle is still measured,
    # as for any metric without a target, but has no due, so it never warns or breaches.
    cycle = sla_clock(sla, "next_response", cycle=1)
    assert cycle["state"] == "running"
    assert cycle["target_seconds"] is None
    assert cycle["due_at"] is None
    assert cycle["warn_at"] is None
    assert clock_entry(cycle, "sla.cycle_opened")["message"].endswith("; no target")


# Next-response cycles


async def test_reply_opens_and_agent_closes_cycle(
    next_response_client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    client = next_response_client
    agent = await make_user("agent")
    token = status_token(await submit(client))
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await agent_reply(client, agent.headers, "SR-000001")
    clock.advance(timedelta(hours=1))  # Tue 12:00 Lagos

    response = await customer_reply(client, token)
    opened = await get_sla(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    cycle = sla_clock(opened, "next_response", cycle=1)
    assert cycle["state"] == "running"
    assert cycle["target_seconds"] == 7200
    # 2h from Tue 12:00 Lagos.
    assert cycle["due_at"] == "2026-03-10T13:00:00Z"
    assert cycle["started_at"] == "2026-03-10T11:00:00Z"
    assert clock_kinds(cycle) == ["sla.cycle_opened"]
    assert clock_entry(cycle, "sla.cycle_opened")["data"]["cause"] == "public customer reply"

    clock.advance(timedelta(minutes=30))  # Tue 12:30 Lagos
    second = await customer_reply(client, token, "Any news?")
    still = sla_clock(await get_sla(client, agent.headers, "SR-000001"), "next_response", cycle=1)
    clock.advance(timedelta(minutes=30))  # Tue 13:00 Lagos
    await agent_reply(client, agent.headers, "SR-000001")
    closed = await get_sla(client, agent.headers, "SR-000001")

    # A second customer reply neither moves the due nor opens another cycle.
    assert second.status_code == 201, second.text
    assert still["due_at"] == "2026-03-10T13:00:00Z"
    assert clock_kinds(still) == ["sla.cycle_opened"]
    cycle = sla_clock(closed, "next_response", cycle=1)
    assert cycle["state"] == "met"
    assert cycle["stopped_at"] == "2026-03-10T12:00:00Z"
    assert cycle["business_seconds_elapsed"] == 3600
    assert clock_kinds(cycle) == ["sla.cycle_opened", "sla.cycle_closed"]
    closing = clock_entry(cycle, "sla.cycle_closed")
    assert closing["data"]["cause"] == "public agent reply"
    assert "met after 1h" in closing["message"]
    assert [c["cycle"] for c in closed["clocks"] if c["metric"] == "next_response"] == [1]


async def test_next_reply_opens_second_cycle(
    next_response_client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    client = next_response_client
    agent = await make_user("agent")
    token = status_token(await submit(client))
    await agent_reply(client, agent.headers, "SR-000001")
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await customer_reply(client, token)
    clock.advance(timedelta(hours=1))  # Tue 12:00 Lagos
    await agent_reply(client, agent.headers, "SR-000001")
    clock.advance(timedelta(hours=5))  # Tue 17:00 Lagos

    response = await customer_reply(client, token, "It failed again.")
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert sla_clock(sla, "next_response", cycle=1)["state"] == "met"
    second = sla_clock(sla, "next_response", cycle=2)
    assert second["state"] == "running"
    # 2h from Tue 17:00 Lagos: one hour before closing, one after Wed 08:00 opening.
    assert second["due_at"] == "2026-03-11T08:00:00Z"


async def test_reply_while_waiting_opens_running_cycle(
    next_response_client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    client = next_response_client
    agent = await make_user("agent")
    token = status_token(await submit(client))
    await agent_reply(client, agent.headers, "SR-000001")
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")
    clock.advance(timedelta(hours=2))  # Tue 12:00 Lagos

    response = await customer_reply(client, token, "Photos attached.")
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert response.json()["status"] == "open"
    # The reply is applied while the ticket still waits, so the cycle opens paused and
    # resumes at the same instant when the status goes back to open.
    cycle = sla_clock(sla, "next_response", cycle=1)
    assert cycle["state"] == "running"
    assert cycle["due_at"] == "2026-03-10T13:00:00Z"
    assert cycle["paused_business_seconds"] == 0
    assert clock_kinds(cycle) == ["sla.cycle_opened", "sla.resumed"]


async def test_early_reply_opens_no_cycle(
    next_response_client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    client = next_response_client
    agent = await make_user("agent")
    token = status_token(await submit(client))
    clock.advance(timedelta(minutes=30))

    response = await customer_reply(client, token, "Hello?")
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert all(clock["metric"] != "next_response" for clock in sla["clocks"])
    assert sla_clock(sla, "first_response")["state"] == "running"


# Rejected replies


async def test_unknown_token_not_found(client: httpx.AsyncClient, db: Database) -> None:
    await submit(client)
    before = await row_counts(db)

    response = await customer_reply(client, "not-a-real-status-token")

    assert response.status_code == 404, response.text
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "status link" in error["message"]
    assert await row_counts(db) == before


async def test_closed_ticket_conflict(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    agent = await make_user("agent")
    token = status_token(await submit(client))
    await patch_ticket(client, agent.headers, "SR-000001", status="closed")
    before = await row_counts(db)

    response = await customer_reply(client, token)

    assert response.status_code == 409, response.text
    error = error_of(response)
    assert error["code"] == "conflict"
    assert "SR-000001" in error["message"]
    assert await row_counts(db) == before
    page = await client.get(f"/api/v1/requests/status/{token}")
    assert len(page.json()["messages"]) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body"),
        ({"body": ""}, "body"),
        ({"body": "   "}, "body"),
        ({"body": "x" * 20_001}, "body"),
        ({"body": "null\x00byte"}, "body"),
        ({"body": 42}, "body"),
        ({"body": "Hello", "priority": "urgent"}, "priority"),
    ],
    ids=["missing", "empty", "blank", "too-long", "control-character", "not-text", "unknown-field"],
)
async def test_invalid_body_rejected(
    client: httpx.AsyncClient, db: Database, body: dict[str, Any], field: str
) -> None:
    token = status_token(await submit(client))
    before = await row_counts(db)

    response = await client.post(f"/api/v1/requests/status/{token}/replies", json=body)

    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert await row_counts(db) == before


async def test_body_not_json_rejected(client: httpx.AsyncClient, db: Database) -> None:
    token = status_token(await submit(client))
    before = await row_counts(db)

    response = await client.post(
        f"/api/v1/requests/status/{token}/replies",
        content=b"The inverter beeps",
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 400, response.text
    assert error_of(response)["code"] == "invalid_json"
    assert await row_counts(db) == before
