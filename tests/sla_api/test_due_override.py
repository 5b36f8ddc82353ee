"""PUT /api/v1/tickets/{ref}/sla/clocks/{id}/due: supervisors set a clock's due by hand.

Tickets are solar repairs by phone, priority medium, created on Tuesday 10 March 2026 at
10:00 Lagos (09:00 UTC), so the standard policy applies on lagos_office (Mon-Fri
08:00-18:00 Lagos, UTC+1). The computed resolution due is Thu 12 March 14:00 Lagos
(Tue 8h + Wed 10h + Thu 6h of the 24h target), 13:00 UTC.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sla_api_support import clock_entry, clock_kinds, get_sla, sla_clock
from sqlalchemy import select

from api.api_support import (
    MakeUser,
    detail,
    error_fields,
    error_of,
    patch_ticket,
    row_counts,
    submit,
    utc,
)
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.users.models import User

COMPUTED_DUE = "2026-03-12T13:00:00Z"
OVERRIDDEN_DUE = "2026-03-12T15:00:00Z"
REASON = "Customer can only let the crew in on Thursday afternoon"


def due_path(clock_id: int, reference: str = "SR-000001") -> str:
    return f"/api/v1/tickets/{reference}/sla/clocks/{clock_id}/due"


async def put_due(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    clock_id: int,
    due_at: str | None,
    reason: str = REASON,
) -> dict[str, Any]:
    response = await client.put(
        due_path(clock_id), json={"due_at": due_at, "reason": reason}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def user_id(db: Database, email: str) -> int:
    async with db.read() as session:
        found = await session.scalar(select(User.id).where(User.email == email))
    assert found is not None
    return int(found)


async def answered_ticket(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """Create SR-000001, meet its first response at once, and return its SLA view."""
    await submit(client)
    response = await client.post(
        "/api/v1/tickets/SR-000001/replies", json={"body": "Noted."}, headers=headers
    )
    assert response.status_code == 201, response.text
    return await get_sla(client, headers, "SR-000001")


async def test_override_shows_due_and_timeline(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    resolution_id = sla_clock(sla, "resolution")["id"]
    assert sla_clock(sla, "resolution")["due_at"] == COMPUTED_DUE

    body = await put_due(client, supervisor.headers, resolution_id, OVERRIDDEN_DUE)

    resolution = sla_clock(body, "resolution")
    assert resolution["due_at"] == OVERRIDDEN_DUE
    assert resolution["due_override_at"] == OVERRIDDEN_DUE
    assert resolution["state"] == "running"
    assert clock_kinds(resolution) == ["sla.started", "sla.due_overridden"]
    entry = clock_entry(resolution, "sla.due_overridden")
    assert entry["actor"] == f"user:{await user_id(db, supervisor.email)}"
    assert entry["at"] == "2026-03-10T09:00:00Z"
    assert REASON in entry["message"]
    assert "(was 2026-03-12T13:00:00+00:00)" in entry["message"]
    assert entry["data"] == {
        "from": "2026-03-12T13:00:00+00:00",
        "to": "2026-03-12T15:00:00+00:00",
        "reason": REASON,
    }
    # The ticket detail and a fresh read show the same due.
    assert await get_sla(client, supervisor.headers, "SR-000001") == body
    ticket = await detail(client, supervisor.headers, "SR-000001")
    assert ticket["resolution_due"] == OVERRIDDEN_DUE
    assert "sla.due_overridden" in [entry["kind"] for entry in ticket["timeline"]]


async def test_admin_may_override(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    admin = await make_user("admin")
    sla = await answered_ticket(client, admin.headers)

    body = await put_due(client, admin.headers, sla_clock(sla, "resolution")["id"], OVERRIDDEN_DUE)

    assert sla_clock(body, "resolution")["due_at"] == OVERRIDDEN_DUE


async def test_override_accepts_any_offset(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)

    body = await put_due(
        client, supervisor.headers, sla_clock(sla, "resolution")["id"], "2026-03-12T16:00:00+01:00"
    )

    assert sla_clock(body, "resolution")["due_at"] == OVERRIDDEN_DUE


async def test_override_sticks_and_breach_fires_then(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock, db: Database, ctx: Context
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    resolution_id = sla_clock(sla, "resolution")["id"]
    await put_due(client, supervisor.headers, resolution_id, OVERRIDDEN_DUE)

    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, supervisor.headers, "SR-000001", status="waiting_on_customer")
    paused = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")
    clock.advance(timedelta(hours=1))  # Tue 12:00 Lagos
    await patch_ticket(client, supervisor.headers, "SR-000001", status="open")
    await patch_ticket(client, supervisor.headers, "SR-000001", priority="high")
    after = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")

    assert paused["state"] == "paused"
    assert paused["due_at"] == OVERRIDDEN_DUE
    assert paused["due_override_at"] == OVERRIDDEN_DUE
    assert after["state"] == "running"
    assert after["target_seconds"] == 10 * 3600
    # Without the override the high target would be due Wed 11:00 Lagos: 1h was used
    # before the pause, then Tue 12:00-18:00 and Wed 08:00-11:00 add 9h. The override stays.
    assert after["due_at"] == OVERRIDDEN_DUE
    assert after["due_override_at"] == OVERRIDDEN_DUE
    assert clock_kinds(after) == [
        "sla.started",
        "sla.due_overridden",
        "sla.paused",
        "sla.resumed",
        "sla.retargeted",
    ]

    clock.set(utc(3, 12, 15) - timedelta(seconds=1))  # one second before the override
    await fire_due_clocks(db, ctx)
    before_due = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")
    clock.set(utc(3, 12, 15))
    await fire_due_clocks(db, ctx)
    at_due = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")

    # The warning comes from the target: 7h 30m of 10h used, at Wed 08:30 Lagos.
    assert before_due["warned_at"] == "2026-03-11T07:30:00Z"
    assert before_due["breached_at"] is None
    assert before_due["state"] == "running"
    assert at_due["breached_at"] == OVERRIDDEN_DUE
    assert at_due["state"] == "breached"
    assert clock_entry(at_due, "sla.breached")["at"] == OVERRIDDEN_DUE
    # The breach escalation raised the priority again; the override still holds.
    assert at_due["due_at"] == OVERRIDDEN_DUE


async def test_clearing_restores_computed_due(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock, db: Database, ctx: Context
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    resolution_id = sla_clock(sla, "resolution")["id"]
    await put_due(client, supervisor.headers, resolution_id, OVERRIDDEN_DUE)
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, supervisor.headers, "SR-000001", status="waiting_on_customer")
    clock.advance(timedelta(hours=1))  # Tue 12:00 Lagos
    await patch_ticket(client, supervisor.headers, "SR-000001", status="open")

    body = await put_due(client, supervisor.headers, resolution_id, None, reason="Access sorted")

    # The computed due moved one hour with the pause: Thu 15:00 Lagos.
    resolution = sla_clock(body, "resolution")
    assert resolution["due_at"] == "2026-03-12T14:00:00Z"
    assert resolution["due_override_at"] is None
    entry = clock_entry(resolution, "sla.due_override_cleared")
    assert entry["at"] == "2026-03-10T11:00:00Z"
    assert "Access sorted" in entry["message"]
    assert entry["data"] == {
        "from": "2026-03-12T15:00:00+00:00",
        "to": "2026-03-12T14:00:00+00:00",
        "reason": "Access sorted",
    }

    clock.set(utc(3, 12, 14))
    await fire_due_clocks(db, ctx)
    fired = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")
    assert fired["breached_at"] == "2026-03-12T14:00:00Z"


async def test_breach_message_names_override(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock, db: Database, ctx: Context
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    await put_due(client, supervisor.headers, sla_clock(sla, "resolution")["id"], OVERRIDDEN_DUE)

    clock.set(utc(3, 12, 15))
    await fire_due_clocks(db, ctx)
    resolution = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")

    # The 24h target ran out at 13:00 UTC; the breach came two hours later, at the due
    # the supervisor set, so "target 24h used up" misstates why it fired.
    message = clock_entry(resolution, "sla.breached")["message"]
    assert "used up" not in message
    assert "by hand" in message


async def test_earlier_override_fires_earlier(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock, db: Database, ctx: Context
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    resolution_id = sla_clock(sla, "resolution")["id"]

    body = await put_due(client, supervisor.headers, resolution_id, "2026-03-10T15:00:00Z")
    clock.set(utc(3, 10, 15))
    await fire_due_clocks(db, ctx)
    fired = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")

    # The computed warning (Wed 18:00 Lagos) falls after the new due, so none is set.
    assert sla_clock(body, "resolution")["warn_at"] is None
    assert fired["breached_at"] == "2026-03-10T15:00:00Z"
    assert fired["state"] == "breached"
    assert "sla.warning_skipped" in clock_kinds(fired)


async def test_task_override_moves_task_due(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    task_clock_id = sla_clock(sla, "operational", task="TK-000001")["id"]

    body = await put_due(client, supervisor.headers, task_clock_id, "2026-03-13T10:00:00Z")

    assert sla_clock(body, "operational", task="TK-000001")["due_at"] == "2026-03-13T10:00:00Z"
    ticket = await detail(client, supervisor.headers, "SR-000001")
    assert ticket["tasks"][0]["due_at"] == "2026-03-13T10:00:00Z"
    task = await client.get("/api/v1/tasks/TK-000001", headers=supervisor.headers)
    assert task.json()["due_at"] == "2026-03-13T10:00:00Z"


async def test_override_while_paused_names_old_due(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    resolution_id = sla_clock(sla, "resolution")["id"]
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, supervisor.headers, "SR-000001", status="waiting_on_customer")
    clock.advance(timedelta(hours=1))  # Tue 12:00 Lagos, still paused
    paused_view = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "resolution")

    body = await put_due(client, supervisor.headers, resolution_id, "2026-03-13T09:00:00Z")

    # Resumed now, the clock would be due Thu 15:00 Lagos (23h left from Tue 12:00).
    assert paused_view["due_at"] == "2026-03-12T14:00:00Z"
    entry = clock_entry(sla_clock(body, "resolution"), "sla.due_overridden")
    assert entry["data"]["from"] == "2026-03-12T14:00:00+00:00"
    assert "(was 2026-03-12T14:00:00+00:00)" in entry["message"]


# Rejected requests


@pytest.mark.parametrize("role", ["agent", "technician"])
async def test_desk_and_field_roles_forbidden(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, role: str
) -> None:
    supervisor = await make_user("supervisor")
    user = await make_user(role)
    sla = await answered_ticket(client, supervisor.headers)
    before = await row_counts(db)

    response = await client.put(
        due_path(sla_clock(sla, "resolution")["id"]),
        json={"due_at": OVERRIDDEN_DUE, "reason": REASON},
        headers=user.headers,
    )

    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["code"] == "forbidden"
    assert role in error["message"]
    assert await row_counts(db) == before
    after = await get_sla(client, supervisor.headers, "SR-000001")
    assert sla_clock(after, "resolution")["due_at"] == COMPUTED_DUE


async def test_override_without_token_unauthorized(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)

    response = await client.put(
        due_path(sla_clock(sla, "resolution")["id"]),
        json={"due_at": OVERRIDDEN_DUE, "reason": REASON},
    )

    assert response.status_code == 401, response.text


@pytest.mark.parametrize(
    "due_at", ["2026-03-10T08:00:00Z", "2026-03-10T09:00:00Z", "2026-03-10T10:00:00+01:00"]
)
async def test_due_not_after_start_rejected(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, due_at: str
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    before = await row_counts(db)

    response = await client.put(
        due_path(sla_clock(sla, "resolution")["id"]),
        json={"due_at": due_at, "reason": REASON},
        headers=supervisor.headers,
    )

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["due_at"]
    assert "2026-03-10T09:00:00+00:00" in error_of(response)["message"]
    assert await row_counts(db) == before


async def test_stopped_clock_conflict(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    first_response = sla_clock(sla, "first_response")
    assert first_response["state"] == "met"

    response = await client.put(
        due_path(first_response["id"]),
        json={"due_at": OVERRIDDEN_DUE, "reason": REASON},
        headers=supervisor.headers,
    )

    assert response.status_code == 409, response.text
    error = error_of(response)
    assert error["code"] == "conflict"
    assert "first_response" in error["message"]
    after = sla_clock(await get_sla(client, supervisor.headers, "SR-000001"), "first_response")
    assert after["due_override_at"] is None


async def test_unknown_clock_not_found(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    supervisor = await make_user("supervisor")
    await answered_ticket(client, supervisor.headers)

    response = await client.put(
        due_path(999_999),
        json={"due_at": OVERRIDDEN_DUE, "reason": REASON},
        headers=supervisor.headers,
    )

    assert response.status_code == 404, response.text
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "999999" in error["message"]


async def test_clock_of_other_ticket_not_found(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    supervisor = await make_user("supervisor")
    await answered_ticket(client, supervisor.headers)
    await submit(client)
    other = sla_clock(await get_sla(client, supervisor.headers, "SR-000002"), "resolution")

    response = await client.put(
        due_path(other["id"], "SR-000001"),
        json={"due_at": OVERRIDDEN_DUE, "reason": REASON},
        headers=supervisor.headers,
    )

    assert response.status_code == 404, response.text
    after = sla_clock(await get_sla(client, supervisor.headers, "SR-000002"), "resolution")
    assert after["due_override_at"] is None


async def test_unknown_ticket_not_found(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    supervisor = await make_user("supervisor")

    response = await client.put(
        due_path(1, "SR-999999"),
        json={"due_at": OVERRIDDEN_DUE, "reason": REASON},
        headers=supervisor.headers,
    )

    assert response.status_code == 404, response.text
    assert "SR-999999" in error_of(response)["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"due_at": "2026-03-12T15:00:00", "reason": REASON}, "due_at"),
        ({"due_at": "next Thursday", "reason": REASON}, "due_at"),
        ({"reason": REASON}, "due_at"),
        ({"due_at": OVERRIDDEN_DUE}, "reason"),
        ({"due_at": OVERRIDDEN_DUE, "reason": "   "}, "reason"),
        ({"due_at": OVERRIDDEN_DUE, "reason": "x" * 501}, "reason"),
        ({"due_at": OVERRIDDEN_DUE, "reason": "bad\x00byte"}, "reason"),
        ({"due_at": OVERRIDDEN_DUE, "reason": REASON, "notify": True}, "notify"),
    ],
    ids=[
        "naive",
        "not-a-date",
        "due-missing",
        "reason-missing",
        "reason-blank",
        "reason-too-long",
        "reason-control-character",
        "unknown-field",
    ],
)
async def test_invalid_body_rejected(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    body: dict[str, Any],
    field: str,
) -> None:
    supervisor = await make_user("supervisor")
    sla = await answered_ticket(client, supervisor.headers)
    before = await row_counts(db)

    response = await client.put(
        due_path(sla_clock(sla, "resolution")["id"]), json=body, headers=supervisor.headers
    )

    assert response.status_code == 422, response.text
    assert error_fields(response) == [field]
    assert await row_counts(db) == before
