"""The agents' ticket API: access, lists, detail, replies, status, priority and the timeline.

Unless a test says otherwise, tickets are created on Tuesday 10 March 2026 at 10:00 Lagos
(09:00 UTC, the `clock` fixture) as solar repairs by phone, priority medium, so the
standard policy applies on lagos_office (Mon–Fri 08:00–18:00, Sat 09:00–14:00):
first response 4h (due Tue 14:00 Lagos), resolution 24h (due Thu 12 March 14:00 Lagos).
"""

from __future__ import annotations

from datetime import datetime, timedelta

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
    patch_ticket,
    row_counts,
    stored_clock,
    submit,
    ticket_clock,
    timeline_kinds,
    utc,
)
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent

RESOLUTION_DUE = utc(3, 12, 13)
FIRST_RESPONSE_DUE = utc(3, 10, 13)


async def reply(
    client: httpx.AsyncClient, headers: dict[str, str], reference: str, body: str, *, note: bool
) -> httpx.Response:
    path = "notes" if note else "replies"
    return await client.post(
        f"/api/v1/tickets/{reference}/{path}", json={"body": body}, headers=headers
    )


async def list_references(
    client: httpx.AsyncClient, headers: dict[str, str], **params: QueryValue
) -> list[str]:
    response = await client.get("/api/v1/tickets", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return [item["reference"] for item in response.json()["items"]]


# Authentication and roles


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/api/v1/tickets", None),
        ("GET", "/api/v1/tickets/SR-000001", None),
        ("PATCH", "/api/v1/tickets/SR-000001", {"status": "open"}),
        ("POST", "/api/v1/tickets/SR-000001/replies", {"body": "Hello"}),
        ("POST", "/api/v1/tickets/SR-000001/notes", {"body": "Hello"}),
        ("GET", "/api/v1/tasks", None),
        ("GET", "/api/v1/tasks/TK-000001", None),
        ("PATCH", "/api/v1/tasks/TK-000001", {"stage": "scheduled"}),
    ],
)
async def test_request_without_token_unauthorized(
    client: httpx.AsyncClient, db: Database, method: str, path: str, body: object
) -> None:
    await submit(client)
    before = await row_counts(db)

    response = await client.request(method, path, json=body)

    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "unauthorized"
    assert await row_counts(db) == before


@pytest.mark.parametrize(
    "authorization", ["Bearer odt_not-a-real-token", "Basic YWRhOnNlY3JldA==", "Bearer "]
)
async def test_invalid_credentials_unauthorized(
    client: httpx.AsyncClient, authorization: str
) -> None:
    await submit(client)

    response = await client.get("/api/v1/tickets", headers={"Authorization": authorization})

    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PATCH", "/api/v1/tickets/SR-000001", {"status": "open"}),
        ("PATCH", "/api/v1/tickets/SR-000001", {"priority": "urgent"}),
        ("POST", "/api/v1/tickets/SR-000001/replies", {"body": "On our way"}),
        ("POST", "/api/v1/tickets/SR-000001/notes", {"body": "Bring a ladder"}),
    ],
)
async def test_technician_may_not_write_tickets(
    client: httpx.AsyncClient,
    db: Database,
    make_user: MakeUser,
    method: str,
    path: str,
    body: object,
) -> None:
    await submit(client)
    technician = await make_user("technician")
    agent = await make_user("agent")
    before = await row_counts(db)

    response = await client.request(method, path, json=body, headers=technician.headers)

    assert response.status_code == 403, response.text
    error = error_of(response)
    assert error["code"] == "forbidden"
    assert "technician" in error["message"]
    assert await row_counts(db) == before
    ticket = await detail(client, agent.headers, "SR-000001")
    assert ticket["status"] == "new"
    assert ticket["priority"] == "medium"


async def test_technician_may_read_tickets(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    await submit(client)
    technician = await make_user("technician")

    listed = await list_references(client, technician.headers)
    ticket = await detail(client, technician.headers, "SR-000001")

    assert listed == ["SR-000001"]
    assert ticket["reference"] == "SR-000001"


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
async def test_desk_roles_may_reply(
    client: httpx.AsyncClient, make_user: MakeUser, role: str
) -> None:
    await submit(client)
    user = await make_user(role)

    response = await reply(client, user.headers, "SR-000001", "We are on it.", note=False)

    assert response.status_code == 201, response.text


# Lists: filters and cursor pagination


@pytest.fixture
async def five_tickets(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> dict[str, str]:
    """Create SR-000001 … SR-000005 and return the headers of the agent who worked on them.

    SR-000001: solar_repair, high, open (publicly replied)
    SR-000002: hvac_repair, low, new, "Air conditioner leaking water" from Chinedu Eze
    SR-000003: electrical_repair, urgent, open, first response breached (replied after 1h
               against a 30m target)
    SR-000004: cctv_repair, medium, waiting_on_customer
    SR-000005: solar_installation, medium, new, site visit
    """
    agent = await make_user("agent")
    await submit(client, priority="high")
    await submit(
        client,
        service_type="hvac_repair",
        priority="low",
        contact_method="email",
        subject="Air conditioner leaking water",
        name="Chinedu Eze",
        email="chinedu@example.com",
    )
    await submit(
        client,
        service_type="electrical_repair",
        priority="urgent",
        subject="Sparks from the kitchen socket",
    )
    await submit(client, service_type="cctv_repair", subject="Camera 3 offline")
    await submit(
        client,
        service_type="solar_installation",
        contact_method="site_visit",
        subject="New rooftop array",
        site_address="4 Bourdillon Road, Ikoyi, Lagos",
    )
    response = await reply(client, agent.headers, "SR-000001", "We will call you.", note=False)
    assert response.status_code == 201, response.text
    await patch_ticket(client, agent.headers, "SR-000004", status="waiting_on_customer")
    clock.advance(timedelta(hours=1))
    response = await reply(client, agent.headers, "SR-000003", "Switch off the main.", note=False)
    assert response.status_code == 201, response.text
    return agent.headers


async def test_list_newest_first(client: httpx.AsyncClient, five_tickets: dict[str, str]) -> None:
    references = await list_references(client, five_tickets)

    assert references == ["SR-000005", "SR-000004", "SR-000003", "SR-000002", "SR-000001"]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "new"}, ["SR-000005", "SR-000002"]),
        ({"status": "open"}, ["SR-000003", "SR-000001"]),
        ({"status": ["new", "waiting_on_customer"]}, ["SR-000005", "SR-000004", "SR-000002"]),
        ({"status": "closed"}, []),
        ({"priority": "high"}, ["SR-000001"]),
        ({"priority": ["low", "urgent"]}, ["SR-000003", "SR-000002"]),
        ({"pipeline": "solar"}, ["SR-000005", "SR-000001"]),
        ({"pipeline": "electrical"}, ["SR-000003"]),
        ({"service_type": "hvac_repair"}, ["SR-000002"]),
        ({"service_type": "solar_installation"}, ["SR-000005"]),
        ({"breached": "true"}, ["SR-000003"]),
        ({"breached": "false"}, ["SR-000005", "SR-000004", "SR-000002", "SR-000001"]),
        ({"q": "leaking"}, ["SR-000002"]),
        ({"q": "SPARKS"}, ["SR-000003"]),
        ({"q": "chinedu"}, ["SR-000002"]),
        ({"q": "no such words"}, []),
        ({"status": "new", "pipeline": "solar"}, ["SR-000005"]),
        ({"priority": "medium", "status": "waiting_on_customer"}, ["SR-000004"]),
    ],
)
async def test_list_filters_tickets(
    client: httpx.AsyncClient,
    five_tickets: dict[str, str],
    params: dict[str, QueryValue],
    expected: list[str],
) -> None:
    references = await list_references(client, five_tickets, **params)

    assert references == expected


async def test_list_marks_breached_tickets(
    client: httpx.AsyncClient, five_tickets: dict[str, str]
) -> None:
    response = await client.get("/api/v1/tickets", headers=five_tickets)

    flags = {item["reference"]: item["breached"] for item in response.json()["items"]}
    assert flags == {
        "SR-000001": False,
        "SR-000002": False,
        "SR-000003": True,
        "SR-000004": False,
        "SR-000005": False,
    }


async def test_list_pages_follow_cursor(
    client: httpx.AsyncClient, five_tickets: dict[str, str]
) -> None:
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(5):
        params: dict[str, QueryValue] = {"limit": 2}
        if cursor is not None:
            params["cursor"] = cursor
        response = await client.get("/api/v1/tickets", params=params, headers=five_tickets)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append([item["reference"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert pages == [["SR-000005", "SR-000004"], ["SR-000003", "SR-000002"], ["SR-000001"]]
    assert cursor is None


async def test_list_cursor_keeps_filters(
    client: httpx.AsyncClient, five_tickets: dict[str, str]
) -> None:
    first = await client.get(
        "/api/v1/tickets", params={"pipeline": "solar", "limit": 1}, headers=five_tickets
    )
    second = await client.get(
        "/api/v1/tickets",
        params={"pipeline": "solar", "limit": 1, "cursor": first.json()["next_cursor"]},
        headers=five_tickets,
    )

    assert [item["reference"] for item in first.json()["items"]] == ["SR-000005"]
    assert [item["reference"] for item in second.json()["items"]] == ["SR-000001"]
    assert second.json()["next_cursor"] is None


async def test_list_exact_page_has_no_next_cursor(
    client: httpx.AsyncClient, five_tickets: dict[str, str]
) -> None:
    response = await client.get("/api/v1/tickets", params={"limit": 5}, headers=five_tickets)

    assert len(response.json()["items"]) == 5
    assert response.json()["next_cursor"] is None


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "not-a-cursor!"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 201}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"breached": "maybe"}, "breached"),
        ({"q": "x" * 201}, "q"),
    ],
)
async def test_list_invalid_parameter_rejected(
    client: httpx.AsyncClient, make_user: MakeUser, params: dict[str, QueryValue], field: str
) -> None:
    agent = await make_user("agent")

    response = await client.get("/api/v1/tickets", params=params, headers=agent.headers)

    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid_input"
    assert error_fields(response) == [field]


async def test_list_filters_by_creation_instant(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client)
    clock.set(lagos(3, 11, 10))
    await submit(client)

    after = await list_references(client, agent.headers, created_after="2026-03-11T00:00:00Z")
    before = await list_references(
        client, agent.headers, created_before="2026-03-11T01:00:00+01:00"
    )

    assert after == ["SR-000002"]
    assert before == ["SR-000001"]


async def test_list_naive_creation_instant_rejected(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")

    response = await client.get(
        "/api/v1/tickets", params={"created_after": "2026-03-11T00:00:00"}, headers=agent.headers
    )

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["created_after"]


@pytest.mark.parametrize("q", ["%", "_"])
async def test_list_search_wildcards_match_literally(
    client: httpx.AsyncClient, make_user: MakeUser, q: str
) -> None:
    agent = await make_user("agent")
    await submit(client, subject="Only 50% of panels charge, fuse_box hot")
    await submit(client, subject="Inverter beeps")

    references = await list_references(client, agent.headers, q=q)

    assert references == ["SR-000001"]


async def test_list_search_with_nul_character_rejected(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client)

    response = await client.get("/api/v1/tickets", params={"q": "a\x00b"}, headers=agent.headers)

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["q"]


async def test_list_breached_ignores_task_clocks(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    # The ticket's own clocks are met; only its task finished after the operational due.
    # `breached` on the list item describes the ticket's clocks, so the filter must too.
    agent = await make_user("agent")
    await submit(client, service_type="electrical_repair", priority="urgent")
    await reply(client, agent.headers, "SR-000001", "Switch off the main.", note=False)
    await patch_ticket(client, agent.headers, "SR-000001", status="resolved")
    # Urgent electrical work has 3h on field_crews: due Tue 14:00 Lagos. Done at 15:00.
    clock.set(lagos(3, 10, 15))
    response = await client.patch(
        "/api/v1/tasks/TK-000001", json={"stage": "done"}, headers=agent.headers
    )
    assert response.json()["clock"]["state"] == "breached"

    listed = await client.get("/api/v1/tickets", headers=agent.headers)
    breached = await list_references(client, agent.headers, breached="true")
    not_breached = await list_references(client, agent.headers, breached="false")

    assert listed.json()["items"][0]["breached"] is False
    assert breached == []
    assert not_breached == ["SR-000001"]


async def test_list_filters_by_assignee(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    agent = await make_user("agent", email="bola@example.com")
    await submit(client)
    await submit(client)
    await patch_ticket(client, agent.headers, "SR-000002", assignee_email="bola@example.com")

    references = await list_references(client, agent.headers, assignee="Bola@Example.com")
    ticket = await detail(client, agent.headers, "SR-000002")

    assert references == ["SR-000002"]
    assert ticket["assignee_email"] == "bola@example.com"
    assert "ticket.assigned" in timeline_kinds(ticket)


# One ticket in full


async def test_ticket_detail_lists_clocks_and_history(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await submit(client, service_type="solar_installation")
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, "SR-000001")

    assert ticket["reference"] == "SR-000001"
    assert [(c["metric"], c["task"]) for c in ticket["clocks"]] == [
        ("first_response", None),
        ("resolution", None),
        ("operational", "TK-000001"),
        ("operational", "TK-000002"),
    ]
    assert [t["reference"] for t in ticket["tasks"]] == ["TK-000001", "TK-000002"]
    assert [m["author_kind"] for m in ticket["messages"]] == ["customer"]
    assert timeline_kinds(ticket)[0] == "ticket.created"
    assert instant(ticket["first_response_due"]) == FIRST_RESPONSE_DUE
    assert instant(ticket["resolution_due"]) == RESOLUTION_DUE
    assert ticket["breached"] is False


async def test_ticket_reference_is_case_insensitive(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, "sr-000001")

    assert ticket["reference"] == "SR-000001"


@pytest.mark.parametrize("reference", ["SR-000099", "XX-000001", "ticket-one", "SR-"])
async def test_unknown_ticket_not_found(
    client: httpx.AsyncClient, make_user: MakeUser, reference: str
) -> None:
    await submit(client)
    agent = await make_user("agent")

    response = await client.get(f"/api/v1/tickets/{reference}", headers=agent.headers)

    assert response.status_code == 404, response.text
    error = error_of(response)
    assert error["code"] == "not_found"
    assert reference in error["message"]


# Replies and notes


async def test_public_reply_meets_first_response(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 10, 30))

    response = await reply(client, agent.headers, "SR-000001", "A crew will call.", note=False)
    ticket = await detail(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert response.json()["public"] is True
    assert response.json()["author_email"] == agent.email
    first = ticket_clock(ticket, "first_response")
    assert first["state"] == "met"
    assert instant(first["stopped_at"]) == utc(3, 10, 9, 30)
    assert first["business_seconds_elapsed"] == 1800
    assert ticket_clock(ticket, "resolution")["state"] == "running"
    assert instant(ticket["first_response_at"]) == utc(3, 10, 9, 30)


async def test_public_reply_opens_new_ticket(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")

    await reply(client, agent.headers, "SR-000001", "A crew will call.", note=False)
    ticket = await detail(client, agent.headers, "SR-000001")

    assert ticket["status"] == "open"
    changes = [e["data"] for e in ticket["timeline"] if e["kind"] == "ticket.status_changed"]
    assert changes == [{"from": "new", "to": "open", "reason": "first public reply"}]
    assert "ticket.replied" in timeline_kinds(ticket)
    assert "sla.stopped" in timeline_kinds(ticket)


async def test_second_public_reply_keeps_first_response_time(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    await reply(client, agent.headers, "SR-000001", "First.", note=False)
    clock.advance(timedelta(hours=2))

    await reply(client, agent.headers, "SR-000001", "Second.", note=False)
    ticket = await detail(client, agent.headers, "SR-000001")

    assert instant(ticket["first_response_at"]) == utc(3, 10, 9)
    assert instant(ticket_clock(ticket, "first_response")["stopped_at"]) == utc(3, 10, 9)


async def test_internal_note_leaves_first_response_running(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")

    response = await reply(client, agent.headers, "SR-000001", "Check warranty.", note=True)
    ticket = await detail(client, agent.headers, "SR-000001")

    assert response.status_code == 201, response.text
    assert response.json()["public"] is False
    assert ticket_clock(ticket, "first_response")["state"] == "running"
    assert ticket["status"] == "new"
    assert ticket["first_response_at"] is None
    assert "ticket.note_added" in timeline_kinds(ticket)
    assert "sla.stopped" not in timeline_kinds(ticket)


async def test_internal_note_hidden_from_customer(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    created = await submit(client)
    agent = await make_user("agent")
    await reply(client, agent.headers, "SR-000001", "Customer owes us for last visit.", note=True)
    await reply(client, agent.headers, "SR-000001", "A crew will call today.", note=False)

    status = (await client.get(created["status_url"])).json()
    ticket = await detail(client, agent.headers, "SR-000001")

    bodies = [m["body"] for m in status["messages"]]
    assert "Customer owes us for last visit." not in bodies
    assert bodies == [
        "Since yesterday the inverter shuts down every hour.",
        "A crew will call today.",
    ]
    assert [m["author"] for m in status["messages"]] == ["customer", "agent"]
    assert "Customer owes us for last visit." in [m["body"] for m in ticket["messages"]]
    assert status["first_response_due"] is None


@pytest.mark.parametrize(
    "body",
    [{}, {"body": ""}, {"body": "  "}, {"body": 5}, {"body": "x" * 20_001}, {"body": "a\x00b"}],
)
async def test_invalid_reply_rejected(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser, body: dict[str, object]
) -> None:
    await submit(client)
    agent = await make_user("agent")
    before = await row_counts(db)

    response = await client.post(
        "/api/v1/tickets/SR-000001/replies", json=body, headers=agent.headers
    )

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["body"]
    assert await row_counts(db) == before


# Status: pause, resume, stop, reopen, close


@pytest.mark.parametrize("status", ["waiting_on_customer", "pending_third_party"])
async def test_waiting_status_pauses_resolution(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser, status: str
) -> None:
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 12))

    await patch_ticket(client, agent.headers, "SR-000001", status=status)
    ticket = await detail(client, agent.headers, "SR-000001")
    row = await stored_clock(db, "SR-000001", "resolution")

    assert ticket["status"] == status
    assert row.phase == "paused"
    assert row.due_at is None
    assert row.next_fire_at is None
    assert ticket_clock(ticket, "resolution")["state"] == "paused"
    assert ticket_clock(ticket, "resolution")["business_seconds_elapsed"] == 2 * 3600
    # first_response is not paused by these statuses in the example policies.
    assert ticket_clock(ticket, "first_response")["state"] == "running"
    assert "sla.paused" in timeline_kinds(ticket)


@pytest.mark.parametrize("status", ["waiting_on_customer", "pending_third_party"])
async def test_resume_pushes_due_by_paused_working_time(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser, status: str
) -> None:
    # Paused Tue 12:00 Lagos after 2h of the 24h target, resumed Wed 11 March 10:00 Lagos.
    # Paused working time: Tue 12–18 (6h) + Wed 08–10 (2h) = 8h.
    # Due moves from Thu 14:00 Lagos by 8h of office time: Thu 14–18 (4h), Fri 08:00 + 4h
    # = Fri 13 March 12:00 Lagos. Check: 22h left from Wed 10:00 gives the same instant.
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 12))
    await patch_ticket(client, agent.headers, "SR-000001", status=status)
    clock.set(lagos(3, 11, 10))

    paused = await detail(client, agent.headers, "SR-000001")
    await patch_ticket(client, agent.headers, "SR-000001", status="open")
    resumed = await detail(client, agent.headers, "SR-000001")
    row = await stored_clock(db, "SR-000001", "resolution")

    assert ticket_clock(paused, "resolution")["state"] == "paused"
    assert ticket_clock(paused, "resolution")["paused_business_seconds"] == 8 * 3600
    assert ticket_clock(paused, "resolution")["business_seconds_elapsed"] == 2 * 3600
    assert row.phase == "running"
    assert row.due_at == utc(3, 13, 11)
    assert row.due_at - RESOLUTION_DUE == timedelta(days=1, hours=-2)
    assert row.paused_seconds == 8 * 3600
    assert ticket_clock(resumed, "resolution")["state"] == "running"
    assert instant(ticket_clock(resumed, "resolution")["due_at"]) == utc(3, 13, 11)
    assert instant(resumed["resolution_due"]) == utc(3, 13, 11)
    assert "sla.resumed" in timeline_kinds(resumed)


async def test_paused_time_counts_office_hours_only(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    # Paused Tue 17:00 Lagos, read back Wed 08:30 Lagos: 1h on Tuesday and 30m on
    # Wednesday are office time; the night in between is not.
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 17))
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")
    clock.set(lagos(3, 11, 8, 30))

    ticket = await detail(client, agent.headers, "SR-000001")

    assert ticket_clock(ticket, "resolution")["paused_business_seconds"] == 5400
    assert ticket_clock(ticket, "resolution")["business_seconds_elapsed"] == 7 * 3600


async def test_resolved_stops_resolution_as_met(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 12))

    await patch_ticket(client, agent.headers, "SR-000001", status="resolved")
    ticket = await detail(client, agent.headers, "SR-000001")
    row = await stored_clock(db, "SR-000001", "resolution")

    assert ticket["status"] == "resolved"
    assert instant(ticket["resolved_at"]) == utc(3, 10, 11)
    assert ticket_clock(ticket, "resolution")["state"] == "met"
    assert instant(ticket_clock(ticket, "resolution")["stopped_at"]) == utc(3, 10, 11)
    assert row.phase == "stopped"
    assert row.breached_at is None
    assert row.next_fire_at is None
    # Resolving also counts as the first response in the default policy.
    assert ticket_clock(ticket, "first_response")["state"] == "met"
    assert "sla.stopped" in timeline_kinds(ticket)


async def test_late_resolution_recorded_as_breached(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 12, 15))

    await patch_ticket(client, agent.headers, "SR-000001", status="resolved")
    ticket = await detail(client, agent.headers, "SR-000001")

    assert ticket_clock(ticket, "resolution")["state"] == "breached"
    assert instant(ticket_clock(ticket, "resolution")["breached_at"]) == RESOLUTION_DUE
    assert ticket["breached"] is True


async def test_reopened_ticket_resumes_resolution(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    # Resolved Tue 12:00 Lagos after 2h, reopened Wed 10:00 Lagos: 22h left, so the new
    # due is Fri 13 March 12:00 Lagos (Wed 8h, Thu 10h, Fri 08:00 + 4h).
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 12))
    await patch_ticket(client, agent.headers, "SR-000001", status="resolved")
    clock.set(lagos(3, 11, 10))

    await patch_ticket(client, agent.headers, "SR-000001", status="open")
    ticket = await detail(client, agent.headers, "SR-000001")
    row = await stored_clock(db, "SR-000001", "resolution")

    assert ticket["status"] == "open"
    assert ticket["resolved_at"] is None
    assert ticket_clock(ticket, "resolution")["state"] == "running"
    assert ticket_clock(ticket, "resolution")["business_seconds_elapsed"] == 2 * 3600
    assert row.due_at == utc(3, 13, 11)
    assert row.stopped_at is None
    # A first response, once given, stays given.
    assert ticket_clock(ticket, "first_response")["state"] == "met"
    resumed = [e for e in ticket["timeline"] if e["kind"] == "sla.resumed"]
    assert [e["data"]["metric"] for e in resumed] == ["resolution"]


async def test_closed_ticket_rejects_changes(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    await patch_ticket(client, agent.headers, "SR-000001", status="resolved")
    await patch_ticket(client, agent.headers, "SR-000001", status="closed")
    before = await row_counts(db)

    attempts = [
        await client.patch(
            "/api/v1/tickets/SR-000001", json={"status": "open"}, headers=agent.headers
        ),
        await client.patch(
            "/api/v1/tickets/SR-000001", json={"priority": "urgent"}, headers=agent.headers
        ),
        await client.patch(
            "/api/v1/tickets/SR-000001", json={"team": "hvac_crew"}, headers=agent.headers
        ),
        await reply(client, agent.headers, "SR-000001", "Hello again", note=False),
        await reply(client, agent.headers, "SR-000001", "Note", note=True),
    ]

    for response in attempts:
        assert response.status_code == 409, response.text
        error = error_of(response)
        assert error["code"] == "conflict", error
        assert "SR-000001" in error["message"], error
        assert "closed" in error["message"], error
    assert await row_counts(db) == before
    ticket = await detail(client, agent.headers, "SR-000001")
    assert ticket["status"] == "closed"
    assert ticket["priority"] == "medium"
    assert ticket["closed_at"] is not None


async def test_same_status_changes_nothing(
    client: httpx.AsyncClient, db: Database, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    before = await row_counts(db)

    ticket = await patch_ticket(client, agent.headers, "SR-000001", status="new")

    assert ticket["status"] == "new"
    assert await row_counts(db) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "archived"}, "status"),
        ({"status": 3}, "status"),
        ({"colour": "red"}, "colour"),
        ({"assignee_email": "nobody"}, "assignee_email"),
        ({"assignee_email": "nobody@example.com"}, "assignee_email"),
        ({"reason": "x" * 501}, "reason"),
        ({"reason": "a\x00b", "status": "open"}, "reason"),
    ],
)
async def test_invalid_ticket_update_rejected(
    client: httpx.AsyncClient,
    db: Database,
    make_user: MakeUser,
    body: dict[str, object],
    field: str,
) -> None:
    await submit(client)
    agent = await make_user("agent")
    before = await row_counts(db)

    response = await client.patch("/api/v1/tickets/SR-000001", json=body, headers=agent.headers)

    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid_input"
    assert error_fields(response) == [field]
    assert await row_counts(db) == before


@pytest.mark.parametrize(
    ("body", "value", "known"),
    [
        ({"priority": "critical"}, "critical", "urgent"),
        ({"team": "plumbers"}, "plumbers", "hvac_crew"),
    ],
)
async def test_unknown_priority_or_team_rejected(
    client: httpx.AsyncClient,
    db: Database,
    make_user: MakeUser,
    body: dict[str, object],
    value: str,
    known: str,
) -> None:
    await submit(client)
    agent = await make_user("agent")
    before = await row_counts(db)

    response = await client.patch("/api/v1/tickets/SR-000001", json=body, headers=agent.headers)

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert value in error["message"]
    assert known in error["message"]
    assert await row_counts(db) == before


# Priority


async def test_priority_change_keeps_elapsed_time(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    # Medium → high at Tue 10:30 Lagos, 30m after creation. High targets: 1h / 10h.
    # First response: 30m left, due Tue 11:00 Lagos.
    # Resolution: 9h30m left: Tue 10:30–18:00 (7h30m), Wed 08:00 + 2h = Wed 10:00 Lagos.
    # Task (solar, high 12h on field_crews): 11h30m left from Tue 10:30: Tue 10:30–12 and
    # 13–17 (5h30m), Wed 07–12 (10h30m), 13:00 + 1h = Wed 14:00 Lagos.
    await submit(client)
    agent = await make_user("agent")
    clock.set(lagos(3, 10, 10, 30))

    ticket = await patch_ticket(client, agent.headers, "SR-000001", priority="high")
    first = await stored_clock(db, "SR-000001", "first_response")
    resolution = await stored_clock(db, "SR-000001", "resolution")

    assert ticket["priority"] == "high"
    assert first.target_seconds == 3600
    assert resolution.target_seconds == 10 * 3600
    assert first.due_at == utc(3, 10, 10)
    assert resolution.due_at == utc(3, 11, 9)
    assert ticket_clock(ticket, "first_response")["business_seconds_elapsed"] == 1800
    assert ticket_clock(ticket, "resolution")["business_seconds_elapsed"] == 1800
    assert instant(ticket["first_response_due"]) == utc(3, 10, 10)
    assert instant(ticket["resolution_due"]) == utc(3, 11, 9)
    (task,) = ticket["tasks"]
    assert task["priority"] == "high"
    assert instant(task["due_at"]) == utc(3, 11, 13)


async def test_lower_priority_moves_due_later(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    # First response given at creation. At Wed 11 March 10:00 Lagos the resolution clock
    # has used Tue 10–18 (8h) + Wed 08–10 (2h) = 10h. Low target 40h leaves 30h:
    # Wed 10–18 (8h), Thu 10h (18h), Fri 10h (28h), Sat 09:00 + 2h = Sat 14 March 11:00.
    await submit(client)
    agent = await make_user("agent")
    await reply(client, agent.headers, "SR-000001", "We are on it.", note=False)
    clock.set(lagos(3, 11, 10))

    await patch_ticket(client, agent.headers, "SR-000001", priority="low")
    resolution = await stored_clock(db, "SR-000001", "resolution")
    first = await stored_clock(db, "SR-000001", "first_response")

    assert resolution.target_seconds == 40 * 3600
    assert resolution.elapsed_seconds == 10 * 3600
    assert resolution.due_at == utc(3, 14, 10)
    # A stopped clock keeps the target it was measured against.
    assert first.target_seconds == 4 * 3600


async def test_priority_change_while_paused(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    # Paused at Tue 12:00 Lagos (2h used); priority high at Wed 10:00; resumed at Wed 11:00.
    # High resolution 10h leaves 8h from Wed 11:00: Wed 11–18 (7h), Thu 08:00 + 1h = 09:00.
    await submit(client)
    agent = await make_user("agent")
    await reply(client, agent.headers, "SR-000001", "Please send photos.", note=False)
    clock.set(lagos(3, 10, 12))
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")
    clock.set(lagos(3, 11, 10))
    await patch_ticket(client, agent.headers, "SR-000001", priority="high")
    paused = await stored_clock(db, "SR-000001", "resolution")
    clock.set(lagos(3, 11, 11))

    await patch_ticket(client, agent.headers, "SR-000001", status="open")
    resumed = await stored_clock(db, "SR-000001", "resolution")

    assert paused.phase == "paused"
    assert paused.due_at is None
    assert paused.target_seconds == 10 * 3600
    assert resumed.due_at == utc(3, 12, 8)


# The timeline


async def test_timeline_records_each_step(
    client: httpx.AsyncClient, clock: FrozenClock, db: Database, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    steps = [
        ("note", {"body": "Check the warranty first."}),
        ("reply", {"body": "A crew will call you."}),
        ("patch", {"status": "waiting_on_customer", "reason": "asked for photos"}),
        ("patch", {"status": "open"}),
        ("patch", {"priority": "high"}),
        ("patch", {"status": "pending_third_party"}),
        ("patch", {"status": "open"}),
        ("patch", {"status": "resolved"}),
        ("patch", {"status": "open"}),
        ("patch", {"status": "resolved"}),
        ("patch", {"status": "closed"}),
    ]
    for action, body in steps:
        clock.advance(timedelta(minutes=10))
        if action == "patch":
            response = await client.patch(
                "/api/v1/tickets/SR-000001", json=body, headers=agent.headers
            )
        else:
            path = "notes" if action == "note" else "replies"
            response = await client.post(
                f"/api/v1/tickets/SR-000001/{path}", json=body, headers=agent.headers
            )
        assert response.status_code in {200, 201}, response.text

    ticket = await detail(client, agent.headers, "SR-000001")
    kinds = timeline_kinds(ticket)
    async with db.read() as session:
        events = set((await session.scalars(select(OutboxEvent.type))).all())

    for kind in (
        "ticket.created",
        "sla.started",
        "task.created",
        "ticket.note_added",
        "ticket.replied",
        "ticket.status_changed",
        "ticket.priority_changed",
        "sla.paused",
        "sla.resumed",
        "sla.stopped",
        "sla.retargeted",
    ):
        assert kind in kinds, kind
    transitions = [
        (e["data"]["from"], e["data"]["to"])
        for e in ticket["timeline"]
        if e["kind"] == "ticket.status_changed"
    ]
    assert transitions == [
        ("new", "open"),
        ("open", "waiting_on_customer"),
        ("waiting_on_customer", "open"),
        ("open", "pending_third_party"),
        ("pending_third_party", "open"),
        ("open", "resolved"),
        ("resolved", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
    ]
    instants = [datetime.fromisoformat(e["at"]) for e in ticket["timeline"]]
    assert instants == sorted(instants)
    reasons = [e["message"] for e in ticket["timeline"] if e["kind"] == "ticket.status_changed"]
    assert "asked for photos" in reasons[1]
    for event in (
        "ticket.created",
        "ticket.note_added",
        "ticket.replied",
        "ticket.status_changed",
        "ticket.priority_changed",
    ):
        assert event in events, event


async def test_timeline_clock_entries_name_their_clock(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    await submit(client)
    agent = await make_user("agent")
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")

    ticket = await detail(client, agent.headers, "SR-000001")

    resolution_id = ticket_clock(ticket, "resolution")["id"]
    paused = [e for e in ticket["timeline"] if e["kind"] == "sla.paused"]
    assert [e["clock_id"] for e in paused] == [resolution_id]
    assert paused[0]["message"].startswith("resolution paused: status changed to")
