"""Open clocks follow edits of the workspace file's policies, pipelines and calendars.

Tickets are created on Tuesday 10 March 2026 at 10:00 Lagos (09:00 UTC) by phone, so the
standard policy applies on lagos_office (Mon-Fri 08:00-18:00, Sat 09:00-14:00 Lagos,
UTC+1 all year). Task clocks run on field_crews (Mon-Fri 07:00-12:00 and 13:00-17:00
Lagos). Each test edits a copy of the example workspace in tmp_path, loads it, and runs
`recompute_open_clocks` with it an hour later, at Tue 11:00 Lagos.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sla_api_support import (
    client_for,
    clock_entry,
    clock_kinds,
    context_with,
    get_sla,
    load_workspace_variant,
    sla_clock,
)
from sqlalchemy import func, select

from api.api_support import MakeUser, detail, error_fields, error_of, patch_ticket, submit
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.recompute import recompute_open_clocks
from opsdesk.tickets.models import TimelineEntry

STANDARD_HIGH = "      high:   {first_response: PT1H, resolution: PT10H}\n"
STANDARD_MEDIUM = "      medium: {first_response: PT4H, resolution: PT24H}\n"
ELECTRICAL_TARGETS = "targets: {low: PT24H, medium: PT16H, high: PT8H, urgent: PT3H}"
OFFICE_HOLIDAYS = (
    "      - {country: NG}            # Nigerian public holidays from the holidays package\n"
)
SITE_VISIT_WHEN = "    when: {contact_method: site_visit}\n"
RECOMPUTED_AT = "2026-03-10T10:00:00Z"


async def timeline_count(db: Database) -> int:
    async with db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(TimelineEntry)) or 0)


async def test_target_change_moves_open_clocks(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    agent = await make_user("agent")
    await submit(client, priority="high")  # SR-000001 stays open
    await submit(client, priority="high")  # SR-000002 gets resolved
    await submit(client)  # SR-000003, medium: its targets do not change
    await patch_ticket(client, agent.headers, "SR-000002", status="resolved")
    # The app stored the example's fingerprint at start, so the same file is skipped.
    unchanged = await recompute_open_clocks(db, ctx)
    assert unchanged.skipped_unchanged_workspace
    edited = load_workspace_variant(
        tmp_path, [(STANDARD_HIGH, STANDARD_HIGH.replace("PT10H", "PT12H"))], "high-12h"
    )
    new_ctx = context_with(ctx, edited)
    clock.advance(timedelta(hours=1))

    summary = await recompute_open_clocks(db, new_ctx)

    # SR-000002 is checked too: its task is still open.
    assert summary.tickets_checked == 3
    assert summary.clocks_changed == 1
    assert summary.policies_switched == 0
    assert summary.causes == {"target 10h became 12h": 1}
    assert not summary.skipped_unchanged_workspace
    async with client_for(db, new_ctx) as new_client:
        open_sla = await get_sla(new_client, agent.headers, "SR-000001")
        resolved_sla = await get_sla(new_client, agent.headers, "SR-000002")
        medium_sla = await get_sla(new_client, agent.headers, "SR-000003")

    # 10h from Tue 10:00 Lagos ended Wed 10:00 (Tue 8h + Wed 2h); 12h ends Wed 12:00.
    resolution = sla_clock(open_sla, "resolution")
    assert resolution["target_seconds"] == 12 * 3600
    assert resolution["due_at"] == "2026-03-11T11:00:00Z"
    assert resolution["business_seconds_elapsed"] == 3600
    entry = clock_entry(resolution, "sla.recomputed")
    assert entry["at"] == RECOMPUTED_AT
    assert entry["data"] == {
        "causes": ["target 10h became 12h"],
        "from": "2026-03-11T09:00:00+00:00",
        "to": "2026-03-11T11:00:00+00:00",
    }
    assert "after a workspace change" in entry["message"]
    # first_response keeps its 1h target, so its due (Tue 11:00 Lagos) did not move.
    first_response = sla_clock(open_sla, "first_response")
    assert first_response["due_at"] == "2026-03-10T10:00:00Z"
    assert clock_kinds(first_response) == ["sla.started"]
    # The resolved ticket's clocks stopped, so they keep the values they ended with.
    stopped = sla_clock(resolved_sla, "resolution")
    assert stopped["state"] == "met"
    assert stopped["target_seconds"] == 10 * 3600
    assert stopped["due_at"] == "2026-03-11T09:00:00Z"
    assert clock_kinds(stopped) == ["sla.started", "sla.stopped"]
    # Medium targets are the same in both files.
    assert sla_clock(medium_sla, "resolution")["due_at"] == "2026-03-12T13:00:00Z"
    assert "sla.recomputed" not in clock_kinds(sla_clock(medium_sla, "resolution"))


async def test_same_file_skipped_second_time(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    await make_user("agent")
    await submit(client, priority="high")
    edited = load_workspace_variant(
        tmp_path, [(STANDARD_HIGH, STANDARD_HIGH.replace("PT10H", "PT12H"))], "high-12h"
    )
    new_ctx = context_with(ctx, edited)
    clock.advance(timedelta(hours=1))
    first = await recompute_open_clocks(db, new_ctx)
    entries = await timeline_count(db)

    second = await recompute_open_clocks(db, new_ctx)
    forced = await recompute_open_clocks(db, new_ctx, force=True)

    assert first.clocks_changed == 1
    assert second.skipped_unchanged_workspace
    assert second.tickets_checked == 0
    assert second.clocks_changed == 0
    # --force checks every open clock again and finds nothing left to move.
    assert not forced.skipped_unchanged_workspace
    assert forced.tickets_checked == 1
    assert forced.clocks_changed == 0
    assert await timeline_count(db) == entries


async def test_holiday_moves_office_clocks(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    agent = await make_user("agent")
    await submit(client)
    holiday = OFFICE_HOLIDAYS + '      - "2026-03-11"\n'
    edited = load_workspace_variant(tmp_path, [(OFFICE_HOLIDAYS, holiday)], "office-holiday")
    new_ctx = context_with(ctx, edited)
    clock.advance(timedelta(hours=1))

    summary = await recompute_open_clocks(db, new_ctx)

    assert summary.clocks_changed == 1
    assert summary.causes == {"calendar lagos_office edited": 1}
    async with client_for(db, new_ctx) as new_client:
        sla = await get_sla(new_client, agent.headers, "SR-000001")
    # With Wednesday off, 24h from Tue 10:00 Lagos runs Tue 8h, Thu 10h and Fri
    # 08:00-14:00 Lagos.
    resolution = sla_clock(sla, "resolution")
    assert resolution["due_at"] == "2026-03-13T13:00:00Z"
    entry = clock_entry(resolution, "sla.recomputed")
    assert entry["data"]["causes"] == ["calendar lagos_office edited"]
    assert entry["data"]["from"] == "2026-03-12T13:00:00+00:00"
    assert entry["data"]["to"] == "2026-03-13T13:00:00+00:00"
    # first_response (due Tue 14:00 Lagos) and the task on field_crews keep their dues.
    assert sla_clock(sla, "first_response")["due_at"] == "2026-03-10T13:00:00Z"
    task_clock = sla_clock(sla, "operational", task="TK-000001")
    assert task_clock["due_at"] == "2026-03-12T16:00:00Z"
    assert "sla.recomputed" not in clock_kinds(task_clock)


async def test_target_and_holiday_both_named(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    agent = await make_user("agent")
    await submit(client)
    edits = [
        (OFFICE_HOLIDAYS, OFFICE_HOLIDAYS + '      - "2026-03-11"\n'),
        (STANDARD_MEDIUM, STANDARD_MEDIUM.replace("PT24H", "PT26H")),
    ]
    new_ctx = context_with(ctx, load_workspace_variant(tmp_path, edits, "both"))
    clock.advance(timedelta(hours=1))

    await recompute_open_clocks(db, new_ctx)

    async with client_for(db, new_ctx) as new_client:
        sla = await get_sla(new_client, agent.headers, "SR-000001")
    # 26h with Wednesday off: Tue 8h, Thu 10h, Fri 08:00-16:00 Lagos.
    resolution = sla_clock(sla, "resolution")
    assert resolution["due_at"] == "2026-03-13T15:00:00Z"
    assert clock_entry(resolution, "sla.recomputed")["data"]["causes"] == [
        "target 24h became 26h",
        "calendar lagos_office edited",
    ]


async def test_pipeline_target_moves_task_clock(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    agent = await make_user("agent")
    await submit(client, service_type="electrical_repair")  # TK-000001 stays open
    await submit(client, service_type="electrical_repair")  # TK-000002 gets done
    response = await client.patch(
        "/api/v1/tasks/TK-000002", json={"stage": "done"}, headers=agent.headers
    )
    assert response.status_code == 200, response.text
    edited_targets = ELECTRICAL_TARGETS.replace("medium: PT16H", "medium: PT20H")
    edited = load_workspace_variant(
        tmp_path, [(ELECTRICAL_TARGETS, edited_targets)], "electrical-20h"
    )
    new_ctx = context_with(ctx, edited)
    clock.advance(timedelta(hours=1))

    summary = await recompute_open_clocks(db, new_ctx)

    assert summary.clocks_changed == 1
    assert summary.causes == {"target 16h became 20h": 1}
    async with client_for(db, new_ctx) as new_client:
        open_sla = await get_sla(new_client, agent.headers, "SR-000001")
        done_sla = await get_sla(new_client, agent.headers, "SR-000002")
        task = (await new_client.get("/api/v1/tasks/TK-000001", headers=agent.headers)).json()
    # 16h on field_crews ran Tue 6h, Wed 9h, Thu 07:00-08:00 Lagos. 20h runs Thu
    # 07:00-12:00 too and is used up exactly at the lunch break, Thu 12:00 Lagos.
    operational = sla_clock(open_sla, "operational", task="TK-000001")
    assert operational["due_at"] == "2026-03-12T11:00:00Z"
    assert operational["target_seconds"] == 20 * 3600
    assert task["due_at"] == "2026-03-12T11:00:00Z"
    entry = clock_entry(operational, "sla.recomputed")
    assert entry["data"]["causes"] == ["target 16h became 20h"]
    assert entry["data"]["from"] == "2026-03-12T07:00:00+00:00"
    assert entry["data"]["to"] == "2026-03-12T11:00:00+00:00"
    # The done task's clock stopped and keeps its target and due.
    done = sla_clock(done_sla, "operational", task="TK-000002")
    assert done["state"] == "met"
    assert done["target_seconds"] == 16 * 3600
    assert done["due_at"] == "2026-03-12T07:00:00Z"
    # The ticket clocks' policy did not change.
    assert "sla.recomputed" not in clock_kinds(sla_clock(open_sla, "resolution"))


async def test_paused_clock_target_change_recorded(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    agent = await make_user("agent")
    await submit(client)
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos
    await patch_ticket(client, agent.headers, "SR-000001", status="waiting_on_customer")
    edited = load_workspace_variant(
        tmp_path, [(STANDARD_MEDIUM, STANDARD_MEDIUM.replace("PT24H", "PT26H"))], "medium-26h"
    )
    new_ctx = context_with(ctx, edited)

    summary = await recompute_open_clocks(db, new_ctx)

    assert summary.clocks_changed == 1
    async with client_for(db, new_ctx) as new_client:
        sla = await get_sla(new_client, agent.headers, "SR-000001")
    resolution = sla_clock(sla, "resolution")
    assert resolution["state"] == "paused"
    assert resolution["target_seconds"] == 26 * 3600
    # Resumed now (Tue 11:00 Lagos) with 25h left: Tue 7h, Wed 10h, Thu 08:00-16:00 Lagos.
    assert resolution["due_at"] == "2026-03-12T15:00:00Z"
    entry = clock_entry(resolution, "sla.recomputed")
    assert entry["data"]["causes"] == ["target 24h became 26h"]
    assert entry["message"].endswith("due unchanged: none (paused)")


async def test_override_survives_recompute(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    supervisor = await make_user("supervisor")
    await submit(client)
    before = await get_sla(client, supervisor.headers, "SR-000001")
    resolution_id = sla_clock(before, "resolution")["id"]
    response = await client.put(
        f"/api/v1/tickets/SR-000001/sla/clocks/{resolution_id}/due",
        json={"due_at": "2026-03-13T09:00:00Z", "reason": "Parts arrive Friday"},
        headers=supervisor.headers,
    )
    assert response.status_code == 200, response.text
    edited = load_workspace_variant(
        tmp_path, [(STANDARD_MEDIUM, STANDARD_MEDIUM.replace("PT24H", "PT26H"))], "medium-26h"
    )
    new_ctx = context_with(ctx, edited)
    clock.advance(timedelta(hours=1))

    summary = await recompute_open_clocks(db, new_ctx)

    assert summary.clocks_changed == 1
    async with client_for(db, new_ctx) as new_client:
        resolution = sla_clock(
            await get_sla(new_client, supervisor.headers, "SR-000001"), "resolution"
        )
    # The new target is recorded, and the due set by hand still wins.
    assert resolution["target_seconds"] == 26 * 3600
    assert resolution["due_at"] == "2026-03-13T09:00:00Z"
    entry = clock_entry(resolution, "sla.recomputed")
    assert entry["data"]["causes"] == ["target 24h became 26h"]
    assert entry["message"].endswith("due unchanged: 2026-03-13T09:00:00+00:00")


async def test_condition_change_switches_policy(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    db: Database,
    ctx: Context,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    agent = await make_user("agent")
    await submit(client, contact_method="email")  # SR-000001 will match site_visit
    await submit(client)  # SR-000002 by phone stays on standard
    edited = load_workspace_variant(
        tmp_path,
        [(SITE_VISIT_WHEN, "    when: {contact_method: [site_visit, email]}\n")],
        "email-site-visit",
    )
    new_ctx = context_with(ctx, edited)
    clock.advance(timedelta(hours=1))

    summary = await recompute_open_clocks(db, new_ctx)

    assert summary.policies_switched == 1
    assert summary.clocks_changed == 1
    async with client_for(db, new_ctx) as new_client:
        switched = await get_sla(new_client, agent.headers, "SR-000001")
        ticket = await detail(new_client, agent.headers, "SR-000001")
        phone_sla = await get_sla(new_client, agent.headers, "SR-000002")
    assert switched["policy"] == "site_visit"
    assert switched["policy_name"] == "Site visit"
    assert ticket["sla_policy"] == "site_visit"
    changed = [entry for entry in ticket["timeline"] if entry["kind"] == "sla.policy_changed"]
    assert len(changed) == 1
    assert changed[0]["at"] == RECOMPUTED_AT
    assert changed[0]["data"] == {"from": "standard", "to": "site_visit"}
    assert changed[0]["message"] == (
        "SLA policy changed from standard to site_visit: after a workspace change"
    )
    # Medium site visits have 36h to resolve: Tue 8h, Wed 10h, Thu 10h, Fri 08:00-16:00.
    resolution = sla_clock(switched, "resolution")
    assert resolution["policy"] == "site_visit"
    assert resolution["target_seconds"] == 36 * 3600
    assert resolution["due_at"] == "2026-03-13T15:00:00Z"
    assert clock_entry(resolution, "sla.recomputed")["data"]["causes"] == [
        "policy standard replaced by site_visit",
        "target 24h became 36h",
    ]
    # first_response has 4h in both policies, so only its policy changed.
    first_response = sla_clock(switched, "first_response")
    assert first_response["policy"] == "site_visit"
    assert first_response["due_at"] == "2026-03-10T13:00:00Z"
    assert phone_sla["policy"] == "standard"
    assert sla_clock(phone_sla, "resolution")["due_at"] == "2026-03-12T13:00:00Z"


# Contact method changes


async def test_site_visit_switches_policy(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client, site_address="12 Admiralty Way, Lekki, Lagos")
    clock.advance(timedelta(hours=1))  # Tue 11:00 Lagos

    ticket = await patch_ticket(
        client, agent.headers, "SR-000001", contact_method="site_visit", reason="Needs a visit"
    )
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert ticket["contact_method"] == "site_visit"
    assert ticket["sla_policy"] == "site_visit"
    # 36h from Tue 10:00 Lagos: Tue 8h, Wed 10h, Thu 10h, Fri 08:00-16:00 Lagos.
    assert ticket["resolution_due"] == "2026-03-13T15:00:00Z"
    assert sla["policy"] == "site_visit"
    resolution = sla_clock(sla, "resolution")
    assert resolution["target_seconds"] == 36 * 3600
    assert resolution["due_at"] == "2026-03-13T15:00:00Z"
    assert resolution["business_seconds_elapsed"] == 3600
    entry = clock_entry(resolution, "sla.recomputed")
    assert entry["data"]["causes"] == [
        "policy standard replaced by site_visit",
        "target 24h became 36h",
    ]
    assert "contact method changed to site_visit" in entry["message"]
    changed = [entry for entry in ticket["timeline"] if entry["kind"] == "sla.policy_changed"]
    assert [entry["message"] for entry in changed] == [
        "SLA policy changed from standard to site_visit: contact method changed to site_visit"
    ]
    assert changed[0]["at"] == RECOMPUTED_AT


async def test_switching_back_restores_standard_due(
    client: httpx.AsyncClient, make_user: MakeUser, clock: FrozenClock
) -> None:
    agent = await make_user("agent")
    await submit(client, site_address="12 Admiralty Way, Lekki, Lagos")
    clock.advance(timedelta(hours=1))
    await patch_ticket(client, agent.headers, "SR-000001", contact_method="site_visit")
    clock.advance(timedelta(hours=1))

    ticket = await patch_ticket(client, agent.headers, "SR-000001", contact_method="phone_call")

    # The clock never paused, so the standard 24h is due as when the ticket was created.
    assert ticket["sla_policy"] == "standard"
    assert ticket["resolution_due"] == "2026-03-12T13:00:00Z"
    kinds = [entry["kind"] for entry in ticket["timeline"]]
    assert kinds.count("sla.policy_changed") == 2


async def test_site_visit_without_address_rejected(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client)

    response = await client.patch(
        "/api/v1/tickets/SR-000001", json={"contact_method": "site_visit"}, headers=agent.headers
    )

    assert response.status_code == 422, response.text
    assert error_fields(response) == ["contact_method"]
    assert "site address" in error_of(response)["message"]
    ticket = await detail(client, agent.headers, "SR-000001")
    assert ticket["contact_method"] == "phone_call"
    assert ticket["sla_policy"] == "standard"
    assert "sla.policy_changed" not in [entry["kind"] for entry in ticket["timeline"]]


async def test_same_policy_contact_change_keeps_clocks(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    agent = await make_user("agent")
    await submit(client)

    ticket = await patch_ticket(client, agent.headers, "SR-000001", contact_method="email")
    sla = await get_sla(client, agent.headers, "SR-000001")

    assert ticket["contact_method"] == "email"
    assert ticket["sla_policy"] == "standard"
    assert clock_kinds(sla_clock(sla, "resolution")) == ["sla.started"]
