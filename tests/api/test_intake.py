"""Intake over HTTP: the ticket, its SLA clocks on the Lagos calendar, and its tasks.

Calendars of examples/technical-services.yaml, all in Africa/Lagos (UTC+1, no DST):
- lagos_office (ticket clocks): Mon–Fri 08:00–18:00, Sat 09:00–14:00, NG public holidays.
- field_crews (task clocks): Mon–Fri 07:00–12:00 and 13:00–17:00, Sat 08:00–13:00, NG
  public holidays.
Expected dues below are worked out by hand in Lagos time and asserted in UTC.
"""

from __future__ import annotations

import re
from datetime import date, datetime

import holidays
import httpx
import pytest
from api_support import (
    REQUEST,
    MakeUser,
    detail,
    instant,
    lagos,
    row_counts,
    submit,
    ticket_clock,
    utc,
)
from sqlalchemy import select

from opsdesk.clock import FrozenClock
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent

NG_HOLIDAYS = holidays.country_holidays("NG", years=2026)


# Reference and status link


async def test_request_returns_reference_and_status_link(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/requests", json=REQUEST)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["reference"] == "SR-000001"
    assert body["status"] == "new"
    assert re.fullmatch(
        r"http://testserver/api/v1/requests/status/[A-Za-z0-9_\-]{20,}", body["status_url"]
    ), body["status_url"]


async def test_status_link_shows_request_to_customer(client: httpx.AsyncClient) -> None:
    created = await submit(client)

    response = await client.get(created["status_url"])

    assert response.status_code == 200, response.text
    status = response.json()
    assert status["reference"] == created["reference"]
    assert status["status"] == "new"
    assert status["status_name"] == "New"
    assert status["subject"] == REQUEST["subject"]
    assert status["first_response_due"] == created["first_response_due"]
    assert status["resolution_due"] == created["resolution_due"]
    assert [m["body"] for m in status["messages"]] == [REQUEST["description"]]
    assert [m["author"] for m in status["messages"]] == ["customer"]
    # The token is the only key to the request, so no cache or search engine keeps it.
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-robots-tag"] == "noindex"


async def test_status_link_with_wrong_token_not_found(client: httpx.AsyncClient) -> None:
    await submit(client)

    response = await client.get("/api/v1/requests/status/not-a-real-token")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_second_request_gets_next_reference(client: httpx.AsyncClient) -> None:
    first = await submit(client)
    second = await submit(client, subject="Second request")

    assert first["reference"] == "SR-000001"
    assert second["reference"] == "SR-000002"


async def test_request_without_priority_gets_default(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    body = dict(REQUEST)
    del body["priority"]
    response = await client.post("/api/v1/requests", json=body)
    assert response.status_code == 201, response.text
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, response.json()["reference"])

    assert ticket["priority"] == "medium"


async def test_request_stores_what_customer_sent(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    created = await submit(client, email="Ada.Obi@Example.COM", name="  Ada Obi  ")
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, created["reference"])

    assert ticket["requester_name"] == "Ada Obi"
    assert ticket["requester_email"] == "ada.obi@example.com"
    assert ticket["requester_phone"] == REQUEST["phone"]
    assert ticket["subject"] == REQUEST["subject"]
    assert ticket["description"] == REQUEST["description"]
    assert ticket["channel"] == "api"
    assert ticket["contact_method"] == "phone_call"
    assert ticket["team"] == "solar_crew"
    assert ticket["status"] == "new"


async def test_request_writes_timeline_and_events(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    created = await submit(client)
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, created["reference"])
    async with db.read() as session:
        events = list((await session.scalars(select(OutboxEvent.type))).all())

    kinds = [entry["kind"] for entry in ticket["timeline"]]
    assert kinds.count("ticket.created") == 1
    # first_response, resolution and the one task's operational clock
    assert kinds.count("sla.started") == 3
    assert kinds.count("task.created") == 1
    assert sorted(events) == ["task.created", "ticket.created"]


async def test_intake_response_matches_stored_dues(
    client: httpx.AsyncClient, make_user: MakeUser, db: Database
) -> None:
    created = await submit(client)
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, created["reference"])

    assert ticket["first_response_due"] == created["first_response_due"]
    assert ticket["resolution_due"] == created["resolution_due"]
    counts = await row_counts(db)
    assert counts["tickets"] == 1
    assert counts["tasks"] == 1
    assert counts["sla_clocks"] == 3


# Ticket clocks on lagos_office


async def test_ordinary_request_due_same_week(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    # Tuesday 10 March 10:00 Lagos, medium, standard policy (4h / 24h).
    clock.set(lagos(3, 10, 10))

    created = await submit(client)

    # First response: 10:00 + 4h = Tue 14:00 Lagos.
    assert instant(created["first_response_due"]) == utc(3, 10, 13)
    # Resolution: Tue 10–18 is 8h, Wed 08–18 brings 18h, Thu 08:00 + 6h = Thu 14:00 Lagos.
    assert instant(created["resolution_due"]) == utc(3, 12, 13)


@pytest.mark.parametrize(
    ("created_at", "priority", "first_response_due", "resolution_due"),
    [
        pytest.param(
            # Fri 13 March 19:00 Lagos, after closing. High: 1h / 10h.
            # First response: Sat 09:00 + 1h = Sat 10:00 Lagos.
            # Resolution: Sat 09–14 is 5h, Sunday is closed, Mon 08:00 + 5h = Mon 13:00 Lagos.
            lagos(3, 13, 19),
            "high",
            utc(3, 14, 9),
            utc(3, 16, 12),
            id="high-after-closing",
        ),
        pytest.param(
            # Fri 13 March 18:00 Lagos exactly: the office day is [08:00, 18:00), so this
            # instant is already after closing and the result is the same as at 19:00.
            lagos(3, 13, 18),
            "high",
            utc(3, 14, 9),
            utc(3, 16, 12),
            id="high-at-closing-time",
        ),
        pytest.param(
            # Fri 13 March 19:00 Lagos. Medium: 4h / 24h.
            # First response: Sat 09:00 + 4h = Sat 13:00 Lagos.
            # Resolution: Sat 5h, Mon 10h (15h), Tue 08:00 + 9h = Tue 17:00 Lagos.
            lagos(3, 13, 19),
            "medium",
            utc(3, 14, 12),
            utc(3, 17, 16),
            id="medium-after-closing",
        ),
    ],
)
async def test_friday_evening_request_dues_carry_over(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    created_at: datetime,
    priority: str,
    first_response_due: datetime,
    resolution_due: datetime,
) -> None:
    clock.set(created_at)

    created = await submit(client, priority=priority)

    assert instant(created["first_response_due"]) == first_response_due
    assert instant(created["resolution_due"]) == resolution_due


def test_example_dates_are_ng_holidays() -> None:
    # The holiday cases below rely on these dates; a holidays release that moved them
    # would make those cases fail for a reason that has nothing to do with Opsdesk.
    assert date(2026, 4, 3) in NG_HOLIDAYS  # Good Friday
    assert date(2026, 4, 6) in NG_HOLIDAYS  # Easter Monday
    assert date(2026, 10, 1) in NG_HOLIDAYS  # National Day
    assert date(2026, 4, 4) not in NG_HOLIDAYS
    assert date(2026, 4, 7) not in NG_HOLIDAYS
    assert date(2026, 10, 2) not in NG_HOLIDAYS


@pytest.mark.parametrize(
    ("created_at", "priority", "first_response_due", "resolution_due"),
    [
        pytest.param(
            # Good Friday, 3 April 10:00 Lagos. High: 1h / 10h. Clocks start Sat 09:00.
            # First response: Sat 09:00 + 1h = Sat 10:00 Lagos.
            # Resolution: Sat 09–14 is 5h, Sunday closed, Easter Monday (6 April) is a
            # holiday, Tue 7 April 08:00 + 5h = Tue 13:00 Lagos.
            lagos(4, 3, 10),
            "high",
            utc(4, 4, 9),
            utc(4, 7, 12),
            id="good-friday-high",
        ),
        pytest.param(
            # National Day, Thursday 1 October 10:00 Lagos. Medium: 4h / 24h. Clocks
            # start Fri 2 October 08:00.
            # First response: Fri 08:00 + 4h = Fri 12:00 Lagos.
            # Resolution: Fri 10h, Sat 5h (15h), Mon 5 October 08:00 + 9h = Mon 17:00 Lagos.
            lagos(10, 1, 10),
            "medium",
            utc(10, 2, 11),
            utc(10, 5, 16),
            id="national-day-medium",
        ),
    ],
)
async def test_holiday_request_clocks_start_next_working_day(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    created_at: datetime,
    priority: str,
    first_response_due: datetime,
    resolution_due: datetime,
) -> None:
    clock.set(created_at)

    created = await submit(client, priority=priority)

    assert instant(created["first_response_due"]) == first_response_due
    assert instant(created["resolution_due"]) == resolution_due


async def test_holiday_consumes_no_working_time(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    # Created on Good Friday 10:00 Lagos; read back on Saturday 4 April at 09:30 Lagos,
    # half an hour after the office opened. No working time passed on the holiday.
    clock.set(lagos(4, 3, 10))
    created = await submit(client, priority="high")
    agent = await make_user("agent")

    clock.set(lagos(4, 3, 23))
    on_holiday = await detail(client, agent.headers, created["reference"])
    clock.set(lagos(4, 4, 9, 30))
    after_opening = await detail(client, agent.headers, created["reference"])

    assert ticket_clock(on_holiday, "first_response")["business_seconds_elapsed"] == 0
    assert ticket_clock(after_opening, "first_response")["business_seconds_elapsed"] == 1800
    assert ticket_clock(after_opening, "first_response")["state"] == "running"


@pytest.mark.parametrize(
    ("contact_method", "priority", "policy", "first_response_due", "resolution_due"),
    [
        pytest.param(
            # Site visit, medium: 4h / 36h from Tue 10 March 10:00 Lagos.
            # First response: Tue 14:00 Lagos.
            # Resolution: Tue 8h, Wed 10h (18h), Thu 10h (28h), Fri 08:00 + 8h = Fri 16:00.
            "site_visit",
            "medium",
            "site_visit",
            utc(3, 10, 13),
            utc(3, 13, 15),
            id="site-visit-medium",
        ),
        pytest.param(
            # Site visit, high: 2h / 18h. First response Tue 12:00 Lagos.
            # Resolution: Tue 8h, Wed 08:00 + 10h = Wed 18:00 Lagos.
            "site_visit",
            "high",
            "site_visit",
            utc(3, 10, 11),
            utc(3, 11, 17),
            id="site-visit-high",
        ),
        pytest.param(
            # The same request by e-mail falls to the standard policy, high: 1h / 10h.
            # First response Tue 11:00 Lagos; resolution: Tue 8h, Wed 08:00 + 2h = 10:00.
            "email",
            "high",
            "standard",
            utc(3, 10, 10),
            utc(3, 11, 9),
            id="email-high-standard",
        ),
    ],
)
async def test_site_visit_request_uses_site_visit_policy(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    make_user: MakeUser,
    contact_method: str,
    priority: str,
    policy: str,
    first_response_due: datetime,
    resolution_due: datetime,
) -> None:
    clock.set(lagos(3, 10, 10))
    created = await submit(
        client,
        contact_method=contact_method,
        priority=priority,
        site_address="12 Adeola Odeku Street, Victoria Island, Lagos",
    )
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, created["reference"])

    assert ticket["sla_policy"] == policy
    assert ticket["site_address"] == "12 Adeola Odeku Street, Victoria Island, Lagos"
    assert ticket_clock(ticket, "first_response")["policy"] == policy
    assert ticket_clock(ticket, "resolution")["policy"] == policy
    assert instant(created["first_response_due"]) == first_response_due
    assert instant(created["resolution_due"]) == resolution_due


# Tasks and their operational clocks on field_crews

# Medium targets per pipeline, and the due instant each gives from Tue 10 March 10:00 Lagos
# on field_crews (Tue 10–12 and 13–17 is 6h, Wed is 9h, so Wednesday ends at 15h):
#   16h: Thu 07:00 + 1h = Thu 08:00 Lagos = 07:00 UTC
#   20h: Thu 07:00 + 5h = Thu 12:00 Lagos = 11:00 UTC
#   24h: Thu 07–12 (20h), 13:00 + 4h = Thu 17:00 Lagos = 16:00 UTC
TARGET_16H = (16 * 3600, utc(3, 12, 7))
TARGET_20H = (20 * 3600, utc(3, 12, 11))
TARGET_24H = (24 * 3600, utc(3, 12, 16))

SERVICE_TYPES = [
    ("solar_installation", "solar", "solar_crew", ["site_survey", "installation"], TARGET_24H),
    ("solar_repair", "solar", "solar_crew", ["diagnosis"], TARGET_24H),
    ("electrical_repair", "electrical", "electrical_crew", ["diagnosis"], TARGET_16H),
    (
        "electrical_installation",
        "electrical",
        "electrical_crew",
        ["site_survey", "installation"],
        TARGET_16H,
    ),
    ("hvac_repair", "hvac", "hvac_crew", ["diagnosis"], TARGET_20H),
    ("hvac_servicing", "hvac", "hvac_crew", ["servicing"], TARGET_20H),
    ("cctv_installation", "cctv", "security_crew", ["site_survey", "installation"], TARGET_24H),
    ("cctv_repair", "cctv", "security_crew", ["diagnosis"], TARGET_24H),
    ("smart_home_setup", "smart_home", "smart_home_crew", ["installation"], TARGET_24H),
    ("smart_home_support", "smart_home", "smart_home_crew", ["diagnosis"], TARGET_24H),
]


@pytest.mark.parametrize(
    ("service_type", "pipeline", "team", "templates", "target"),
    SERVICE_TYPES,
    ids=[row[0] for row in SERVICE_TYPES],
)
async def test_service_type_tasks_created_in_pipeline(
    client: httpx.AsyncClient,
    clock: FrozenClock,
    make_user: MakeUser,
    service_type: str,
    pipeline: str,
    team: str,
    templates: list[str],
    target: tuple[int, datetime],
) -> None:
    clock.set(lagos(3, 10, 10))
    created = await submit(client, service_type=service_type, contact_method="email")
    agent = await make_user("agent")
    target_seconds, due = target

    response = await client.get(
        "/api/v1/tasks", params={"ticket": created["reference"]}, headers=agent.headers
    )

    assert response.status_code == 200, response.text
    tasks = response.json()["items"]
    assert sorted(task["template"] for task in tasks) == sorted(templates)
    for task in tasks:
        assert task["ticket"] == created["reference"], task
        assert task["pipeline"] == pipeline, task
        assert task["team"] == team, task
        assert task["stage"] == "todo", task
        assert task["priority"] == "medium", task
        assert task["completed_at"] is None, task
        assert task["clock"]["metric"] == "operational", task
        assert task["clock"]["calendar"] == "field_crews", task
        assert task["clock"]["policy"] == f"pipeline:{pipeline}", task
        assert task["clock"]["state"] == "running", task
        assert task["clock"]["target_seconds"] == target_seconds, task
        assert instant(task["due_at"]) == due, task
        assert instant(task["clock"]["due_at"]) == due, task


async def test_ticket_lists_its_tasks_and_pipeline(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    created = await submit(client, service_type="cctv_installation", contact_method="email")
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, created["reference"])

    assert ticket["pipeline"] == "cctv"
    assert ticket["team"] == "security_crew"
    assert [task["reference"] for task in ticket["tasks"]] == ["TK-000001", "TK-000002"]
    assert [task["pipeline"] for task in ticket["tasks"]] == ["cctv", "cctv"]
    operational = [c for c in ticket["clocks"] if c["metric"] == "operational"]
    assert sorted(c["task"] for c in operational) == ["TK-000001", "TK-000002"]


async def test_friday_evening_task_due_monday_afternoon(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    # Solar repair, high: 12h on field_crews from Fri 13 March 19:00 Lagos.
    # Sat 08–13 is 5h, Sunday closed, Mon 07–12 brings 10h, 13:00 + 2h = Mon 15:00 Lagos.
    clock.set(lagos(3, 13, 19))
    created = await submit(client, priority="high")
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, created["reference"])

    (task,) = ticket["tasks"]
    assert task["pipeline"] == "solar"
    assert instant(task["due_at"]) == utc(3, 16, 14)


async def test_holiday_task_due_skips_easter_monday(
    client: httpx.AsyncClient, clock: FrozenClock, make_user: MakeUser
) -> None:
    # Solar repair, high: 12h on field_crews from Good Friday 3 April 10:00 Lagos.
    # Sat 4 April 08–13 is 5h, Sunday closed, Easter Monday a holiday, Tue 7 April
    # 07–12 brings 10h, 13:00 + 2h = Tue 15:00 Lagos.
    clock.set(lagos(4, 3, 10))
    created = await submit(client, priority="high")
    agent = await make_user("agent")

    ticket = await detail(client, agent.headers, created["reference"])

    (task,) = ticket["tasks"]
    assert instant(task["due_at"]) == utc(4, 7, 14)
