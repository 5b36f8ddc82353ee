"""GET /api/v1/tickets/{ref}/sla: every clock measured now, each with its own timeline.

Tickets are created on Tuesday 10 March 2026 at 10:00 Lagos (09:00 UTC, the `clock`
fixture), by phone, priority medium, so the standard policy applies on lagos_office
(Mon-Fri 08:00-18:00, Sat 09:00-14:00 Lagos, UTC+1 all year). Tasks run on field_crews
(Mon-Fri 07:00-12:00 and 13:00-17:00, Sat 08:00-13:00 Lagos). No Nigerian public holiday
falls between 10 and 18 March 2026.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

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
)

from api.api_support import MakeUser, error_of, patch_ticket, submit, utc
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.jobs import fire_due_clocks

# first_response 4h from Tue 10:00 Lagos: Tue 14:00 Lagos.
FIRST_RESPONSE_DUE = "2026-03-10T13:00:00Z"
# resolution 24h: Tue 10:00-18:00 (8h) + Wed 08:00-18:00 (10h) + Thu 08:00-14:00 (6h).
RESOLUTION_DUE = "2026-03-12T13:00:00Z"
# operational 24h on field_crews: Tue 10:00-12:00 and 13:00-17:00 (6h), Wed 9h, Thu 9h,
# so the target is used up exactly at Thu 17:00 Lagos, the closing time.
OPERATIONAL_DUE = "2026-03-12T16:00:00Z"


async def test_fresh_ticket_lists_every_clock(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client, service_type="solar_installation")

    sla = await get_sla(client, agent.headers, "SR-000001")

    assert sla["reference"] == "SR-000001"
    assert sla["priority"] == "medium"
    assert sla["policy"] == "standard"
    assert sla["calendar"] == "lagos_office"
    described = sorted((clock["metric"], clock["task"]) for clock in sla["clocks"])
    assert described == [
        ("first_response", None),
        ("operational", "TK-000001"),
        ("operational", "TK-000002"),
        ("resolution", None),
    ]
    expected = {
        ("first_response", None): (FIRST_RESPONSE_DUE, 4 * 3600, "lagos_office"),
        ("resolution", None): (RESOLUTION_DUE, 24 * 3600, "lagos_office"),
        ("operational", "TK-000001"): (OPERATIONAL_DUE, 24 * 3600, "field_crews"),
        ("operational", "TK-000002"): (OPERATIONAL_DUE, 24 * 3600, "field_crews"),
    }
    for (metric, task), (due, target, calendar) in expected.items():
        clock = sla_clock(sla, metric, task=task)
        assert clock["state"] == "running", clock
        assert clock["due_at"] == due, clock
        assert clock["target_seconds"] == target, clock
        assert clock["calendar"] == calendar, clock
        assert clock["started_at"] == "2026-03-10T09:00:00Z", clock
        assert clock["business_seconds_elapsed"] == 0, clock
        assert clock["paused_business_seconds"] == 0, clock
        assert clock["due_override_at"] is None, clock
        assert clock_kinds(clock) == ["sla.started"], clock
        assert clock["timeline"][0]["at"] == "2026-03-10T09:00:00Z"
        assert due.removesuffix("Z") in clock["timeline"][0]["message"]


async def test_warning_instants_of_fresh_clocks(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client)

    sla = await get_sla(client, agent.headers, "SR-000001")

    # 75% of each target: 3h of first_response ends Tue 13:00 Lagos; 18h of resolution
    # ends Wed 18:00 Lagos; 18h of the task ends Thu 07:00 + 3h = Thu 10:00 Lagos.
    assert sla_clock(sla, "first_response")["warn_at"] == "2026-03-10T12:00:00Z"
    assert sla_clock(sla, "resolution")["warn_at"] == "2026-03-11T17:00:00Z"
    assert sla_clock(sla, "operational", task="TK-000001")["warn_at"] == "2026-03-12T09:00:00Z"


async def test_pause_and_resume_timeline(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client, service_type="solar_installation")

    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")
    clock.advance(timedelta(hours=2))  # Tue 13:00 Lagos
    await patch_ticket(client, agent.headers, "SR-000001", status="open")
    clock.advance(timedelta(minutes=30))  # Tue 13:30 Lagos
    sla = await get_sla(client, agent.headers, "SR-000001")

    resolution = sla_clock(sla, "resolution")
    assert resolution["state"] == "running"
    # Ran 10:00-11:00 and 13:00-13:30 Lagos; paused 11:00-13:00, all inside office hours.
    assert resolution["business_seconds_elapsed"] == 5400
    assert resolution["paused_business_seconds"] == 7200
    # 22h 30m left from Tue 13:30: Tue 4h 30m, Wed 10h, Thu 08:00 + 8h = Thu 16:00 Lagos,
    # which is the first due pushed back by the two hours of the pause.
    assert resolution["due_at"] == "2026-03-12T15:00:00Z"
    assert clock_kinds(resolution) == ["sla.started", "sla.paused", "sla.resumed"]
    started, paused, resumed = resolution["timeline"]
    assert started["data"]["cause"] == "ticket created with status new"
    assert paused["at"] == "2026-03-10T10:00:00Z"
    assert paused["data"]["cause"] == "status changed to waiting_on_customer"
    assert paused["data"]["phase"] == "paused"
    assert "1h used of 24h" in paused["message"]
    assert resumed["at"] == "2026-03-10T12:00:00Z"
    assert resumed["data"]["cause"] == "status changed to open"
    assert resumed["data"]["phase"] == "running"
    assert "due 2026-03-12T15:00:00+00:00" in resumed["message"]

    # The standard policy does not pause first_response: it ran the whole 3h 30m.
    first_response = sla_clock(sla, "first_response")
    assert first_response["state"] == "running"
    assert first_response["business_seconds_elapsed"] == 12600
    assert first_response["paused_business_seconds"] == 0
    assert first_response["due_at"] == FIRST_RESPONSE_DUE
    assert clock_kinds(first_response) == ["sla.started"]

    # Task clocks do not follow the ticket status. field_crews breaks for lunch from
    # 12:00 to 13:00, so 10:00-13:30 Lagos is 2h 30m of working time.
    task_clock = sla_clock(sla, "operational", task="TK-000001")
    assert task_clock["state"] == "running"
    assert task_clock["business_seconds_elapsed"] == 9000
    assert task_clock["due_at"] == OPERATIONAL_DUE


async def test_paused_clock_due_if_resumed(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client)

    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")
    clock.advance(timedelta(hours=3))  # Tue 14:00 Lagos
    sla = await get_sla(client, agent.headers, "SR-000001")

    resolution = sla_clock(sla, "resolution")
    assert resolution["state"] == "paused"
    assert resolution["business_seconds_elapsed"] == 3600
    assert resolution["paused_business_seconds"] == 3 * 3600
    # 23h left from Tue 14:00: Tue 4h, Wed 10h, Thu 08:00 + 9h = Thu 17:00 Lagos.
    assert resolution["due_at"] == "2026-03-12T16:00:00Z"
    assert resolution["warn_at"] is None


async def test_public_reply_meets_first_response(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client)
    clock.advance(timedelta(hours=3, minutes=30))  # Tue 13:30 Lagos, 30 minutes before due

    response = await client.post(
        "/api/v1/tickets/SR-000001/replies",
        json={"body": "A technician will call you today."},
        headers=agent.headers,
    )
    assert response.status_code == 201, response.text
    sla = await get_sla(client, agent.headers, "SR-000001")

    first_response = sla_clock(sla, "first_response")
    assert first_response["state"] == "met"
    assert first_response["stopped_at"] == "2026-03-10T12:30:00Z"
    assert first_response["business_seconds_elapsed"] == 12600
    assert first_response["due_at"] == FIRST_RESPONSE_DUE
    assert first_response["breached_at"] is None
    assert clock_kinds(first_response) == ["sla.started", "sla.stopped"]
    stopped = clock_entry(first_response, "sla.stopped")
    assert stopped["data"]["cause"] == "public agent reply"
    assert "met after 3h 30m" in stopped["message"]
    assert sla_clock(sla, "resolution")["state"] == "running"


async def test_internal_note_leaves_first_response_running(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client)
    clock.advance(timedelta(hours=1))

    response = await client.post(
        "/api/v1/tickets/SR-000001/notes", json={"body": "Call back later"}, headers=agent.headers
    )
    assert response.status_code == 201, response.text
    sla = await get_sla(client, agent.headers, "SR-000001")

    first_response = sla_clock(sla, "first_response")
    assert first_response["state"] == "running"
    assert first_response["business_seconds_elapsed"] == 3600
    assert clock_kinds(first_response) == ["sla.started"]


async def test_breached_clock_shows_warning_and_breach(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock, db: Database, ctx: Context
) -> None:
    agent = await make_user("agent")
    await submit(client)
    clock.set(utc(3, 10, 13, 1))  # Tue 14:01 Lagos, one minute after first_response was due

    fired = await fire_due_clocks(db, ctx)
    sla = await get_sla(client, agent.headers, "SR-000001")

    # The warning (3h used, Tue 13:00 Lagos) and the breach (Tue 14:00 Lagos) of
    # first_response; no other clock had reached a threshold.
    assert fired == 2
    first_response = sla_clock(sla, "first_response")
    assert first_response["state"] == "breached"
    assert first_response["warned_at"] == "2026-03-10T12:00:00Z"
    assert first_response["breached_at"] == FIRST_RESPONSE_DUE
    # Escalations that ran on the clock's warning and breach are listed with the clock.
    assert clock_kinds(first_response) == [
        "sla.started",
        "sla.warning",
        "escalation.triggered",
        "sla.breached",
        "sla.retargeted",
        "escalation.triggered",
    ]
    warning = clock_entry(first_response, "sla.warning")
    assert warning["at"] == "2026-03-10T12:00:00Z"
    assert "3h of 4h used" in warning["message"]
    breached = clock_entry(first_response, "sla.breached")
    assert breached["at"] == FIRST_RESPONSE_DUE
    assert breached["data"]["fired_at"] == "2026-03-10T13:01:00+00:00"
    # The breach escalation raised the priority, and the clocks took the high targets.
    assert sla["priority"] == "high"
    resolution = sla_clock(sla, "resolution")
    assert resolution["state"] == "running"
    assert resolution["target_seconds"] == 10 * 3600
    # 10h from Tue 10:00: Tue 8h, Wed 08:00 + 2h = Wed 10:00 Lagos.
    assert resolution["due_at"] == "2026-03-11T09:00:00Z"
    assert clock_kinds(resolution) == ["sla.started", "sla.retargeted"]


async def test_running_clock_past_due_reads_breached(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client)
    clock.set(utc(3, 10, 13, 30))  # past the first response due, before any worker ran

    sla = await get_sla(client, agent.headers, "SR-000001")

    first_response = sla_clock(sla, "first_response")
    assert first_response["state"] == "breached"
    assert first_response["breached_at"] is None
    assert first_response["business_seconds_elapsed"] == 4.5 * 3600


async def test_removed_policy_still_readable(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database, ctx: Context, tmp_path: Path
) -> None:
    agent = await make_user("agent")
    await submit(client, contact_method="site_visit", site_address="4 Marina Road, Lagos")
    response = await client.patch(
        "/api/v1/tasks/TK-000001", json={"stage": "done"}, headers=agent.headers
    )
    assert response.status_code == 200, response.text
    await patch_ticket(client, agent.headers, "SR-000001", status="closed")
    site_visit_policy = (
        "  - key: site_visit\n"
        "    name: Site visit\n"
        "    when: {contact_method: site_visit}\n"
        "    calendar: lagos_office\n"
        "    targets:\n"
        "      low:    {first_response: PT8H, resolution: PT60H}\n"
        "      medium: {first_response: PT4H, resolution: PT36H}\n"
        "      high:   {first_response: PT2H, resolution: PT18H}\n"
        "      urgent: {first_response: PT1H, resolution: PT8H}\n"
    )
    edited = load_workspace_variant(tmp_path, [(site_visit_policy, "")], "no-site-visit")

    async with client_for(db, context_with(ctx, edited)) as new_client:
        sla = await get_sla(new_client, agent.headers, "SR-000001")

    # The closed ticket keeps the policy key it was measured with.
    assert sla["policy"] == "site_visit"
    assert sla["policy_name"] == "site_visit"
    assert sla["calendar"] == "lagos_office"
    resolution = sla_clock(sla, "resolution")
    assert resolution["state"] == "met"
    assert resolution["target_seconds"] == 36 * 3600


# Access


async def test_unknown_ticket_not_found(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    agent = await make_user("agent")
    await submit(client)

    response = await client.get("/api/v1/tickets/SR-999999/sla", headers=agent.headers)

    assert response.status_code == 404, response.text
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "SR-999999" in error["message"]


async def test_foreign_reference_not_found(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    agent = await make_user("agent")
    await submit(client)

    response = await client.get("/api/v1/tickets/TK-000001/sla", headers=agent.headers)

    assert response.status_code == 404, response.text
    assert error_of(response)["code"] == "not_found"


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer odt_not-a-real-token"}, {"Authorization": "Basic YWRhOnB3"}],
    ids=["no-token", "unknown-token", "basic-scheme"],
)
async def test_sla_view_needs_a_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    await submit(client)

    response = await client.get("/api/v1/tickets/SR-000001/sla", headers=headers)

    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize("role", ["agent", "technician", "supervisor", "admin"])
async def test_every_staff_role_may_read(
    client: httpx.AsyncClient, make_user: MakeUser, role: str
) -> None:
    user = await make_user(role)
    await submit(client)

    sla = await get_sla(client, user.headers, "SR-000001")

    assert sla["reference"] == "SR-000001"
    assert len(sla["clocks"]) == 3
