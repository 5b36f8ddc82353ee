"""The agents' queue: access, order by time to breach, badges, filters and saved views."""

from __future__ import annotations

import re
from datetime import timedelta

from console_agent_support import Console, parse_page
from sqlalchemy import event

from opsdesk.clock import FrozenClock


def references(page_html: str) -> list[str]:
    return [row.attrs["data-reference"] for row in parse_page(page_html).all("queue-row")]


def states(page_html: str) -> dict[str, str]:
    return {
        row.attrs["data-reference"]: row.attrs["data-state"]
        for row in parse_page(page_html).all("queue-row")
    }


async def queue_html(console: Console, query: str = "") -> str:
    response = await console.client.get("/console/queue" + (f"?{query}" if query else ""))
    assert response.status_code == 200, response.text[:2000]
    return response.text


# Access


async def test_anonymous_visitor_is_sent_to_sign_in(console: Console) -> None:
    for path in ("/console/queue", "/console/queue/rows", "/console/my-tasks"):
        response = await console.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["location"] == f"/console/login?next={path}"


async def test_anonymous_ticket_page_redirects(console: Console) -> None:
    reference = await console.submit()
    response = await console.client.get(f"/console/tickets/{reference}?saved=reply")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/console/login?next=/console/tickets/")


async def test_queue_forbidden_for_technician(console: Console) -> None:
    await console.signed_in("technician")
    for path in ("/console/queue", "/console/queue/rows"):
        response = await console.client.get(path)
        assert response.status_code == 403, path
        assert "text/html" in response.headers["content-type"]
        assert "you are signed in as technician" in response.text


async def test_my_tasks_forbidden_for_agent(console: Console) -> None:
    await console.signed_in("agent")
    response = await console.client.get("/console/my-tasks")
    assert response.status_code == 403
    assert "you are signed in as agent" in response.text


async def test_supervisor_and_admin_use_every_page(console: Console) -> None:
    reference = await console.submit()
    for role in ("supervisor", "admin"):
        await console.signed_in(role)
        for path in ("/console/queue", "/console/my-tasks", f"/console/tickets/{reference}"):
            response = await console.client.get(path)
            assert response.status_code == 200, (role, path)


# Order and badges


async def test_queue_sorts_by_time_to_breach(console: Console, clock: FrozenClock) -> None:
    agent = await console.signed_in("agent")
    assert agent.role == "agent"
    # 10:00 in Lagos: first response due at 14:00, warning at 13:00.
    medium = await console.submit(subject="Medium ticket", priority="medium")
    clock.advance(timedelta(minutes=10))
    urgent = await console.submit(subject="Urgent ticket", priority="urgent")  # due 10:40
    high = await console.submit(subject="High ticket", priority="high")  # due 11:10, warns 10:55
    low = await console.submit(subject="Low ticket", priority="low")  # due Wed 08:10
    paused = await console.submit(subject="Waiting ticket", priority="medium")
    reply = await console.post(
        f"/console/tickets/{paused}/messages",
        {"body": "Please send a photo of the inverter.", "visibility": "public"},
    )
    assert reply.status_code == 303
    waiting = await console.post(
        f"/console/tickets/{paused}/status", {"status": "waiting_on_customer", "reason": ""}
    )
    assert waiting.status_code == 303

    html = await queue_html(console)
    assert references(html) == [urgent, high, medium, low, paused]
    assert states(html) == {
        urgent: "on_track",
        high: "on_track",
        medium: "on_track",
        low: "on_track",
        paused: "paused",
    }

    clock.advance(timedelta(minutes=50))  # 11:00 in Lagos
    before_firing = states(await queue_html(console))
    assert before_firing[urgent] == "breached"
    assert before_firing[high] == "at_risk"

    assert await console.fire_clocks() >= 2
    html = await queue_html(console)
    assert references(html) == [urgent, high, medium, low, paused]
    assert states(html) == {
        urgent: "breached",
        high: "at_risk",
        medium: "on_track",
        low: "on_track",
        paused: "paused",
    }
    badges = [badge.text for badge in parse_page(html).all("state-badge")]
    assert badges == ["Breached", "At risk", "On track", "On track", "Paused"]


async def test_queue_row_shows_due_and_countdown(console: Console, clock: FrozenClock) -> None:
    await console.signed_in("agent")
    reference = await console.submit(priority="medium")
    clock.advance(timedelta(minutes=30))
    page = parse_page(await queue_html(console))

    row = page.one("queue-row")
    assert row.attrs["data-reference"] == reference
    assert row.attrs["data-state"] == "on_track"
    countdown = page.one("countdown")
    assert countdown.attrs["data-due"] == "2026-03-10T13:00:00+00:00"
    assert countdown.attrs["data-warn"] == "2026-03-10T12:00:00+00:00"
    assert countdown.text == "3h 30m 00s left"
    assert "Tue 10 Mar 14:00" in row.text  # Lagos time
    assert page.one("ticket-link").attrs["href"] == f"/console/tickets/{reference}"
    assert page.one("queue-rows").attrs["data-server-now"] == "2026-03-10T09:30:00+00:00"


async def test_queue_overdue_countdown_text(console: Console, clock: FrozenClock) -> None:
    await console.signed_in("agent")
    await console.submit(priority="urgent")
    clock.advance(timedelta(minutes=45))
    page = parse_page(await queue_html(console))
    assert page.one("countdown").text == "15m 00s overdue"
    assert page.one("queue-row").attrs["data-state"] == "breached"


async def test_queue_hides_resolved_and_closed(console: Console) -> None:
    await console.signed_in("agent")
    open_ticket = await console.submit(subject="Still open")
    resolved = await console.submit(subject="Fixed already")
    response = await console.post(
        f"/console/tickets/{resolved}/status", {"status": "resolved", "reason": "fixed on call"}
    )
    assert response.status_code == 303

    assert references(await queue_html(console)) == [open_ticket]
    resolved_page = await queue_html(console, "status=resolved")
    assert references(resolved_page) == [resolved]
    assert states(resolved_page) == {resolved: "met"}
    assert sorted(references(await queue_html(console, "status=all"))) == sorted(
        [open_ticket, resolved]
    )


# Filters


async def test_queue_filters_by_pipeline_and_priority(console: Console) -> None:
    await console.signed_in("agent")
    solar = await console.submit(service_type="solar_repair", priority="high")
    electrical = await console.submit(service_type="electrical_repair", priority="low")

    assert references(await queue_html(console, "pipeline=electrical")) == [electrical]
    assert references(await queue_html(console, "pipeline=solar")) == [solar]
    assert references(await queue_html(console, "priority=low")) == [electrical]
    assert references(await queue_html(console, "pipeline=solar&priority=low")) == []
    page = parse_page(await queue_html(console, "pipeline=solar&priority=low"))
    assert page.has("queue-empty")


async def test_queue_filters_by_assignee(console: Console) -> None:
    other = await console.account("agent")
    me = await console.signed_in("agent")
    mine = await console.submit(subject="Mine")
    theirs = await console.submit(subject="Theirs")
    nobody = await console.submit(subject="Nobody's")
    for reference, account in ((mine, me), (theirs, other)):
        response = await console.post(
            f"/console/tickets/{reference}/assignment",
            {"team": "front_desk", "assignee": account.email},
        )
        assert response.status_code == 303

    assert references(await queue_html(console, "assignee=me")) == [mine]
    assert references(await queue_html(console, "assignee=unassigned")) == [nobody]
    assert references(await queue_html(console, f"assignee={other.email}")) == [theirs]
    html = await queue_html(console, "assignee=me")
    assert re.search(r'<option value="me" selected>Me</option>', html)


async def test_queue_filters_breached_only(console: Console, clock: FrozenClock) -> None:
    await console.signed_in("agent")
    late = await console.submit(priority="urgent")
    await console.submit(priority="low")
    clock.advance(timedelta(hours=1))
    await console.fire_clocks()

    assert references(await queue_html(console, "breached=1")) == [late]
    checkbox = re.search(
        r'<input type="checkbox" name="breached"[^>]*>', await queue_html(console, "breached=1")
    )
    assert checkbox is not None
    assert "checked" in checkbox.group(0)


async def test_queue_reports_unknown_filter_values(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    page = parse_page(await queue_html(console, "pipeline=plumbing&priority=extreme&status=lost"))
    errors = [error.text for error in page.all("filter-error")]
    assert "Unknown pipeline 'plumbing'; showing every pipeline." in errors
    assert "Unknown priority 'extreme'; showing every priority." in errors
    assert "Unknown status 'lost'; showing open tickets." in errors
    assert [row.attrs["data-reference"] for row in page.all("queue-row")] == [reference]


# The rows partial


async def test_rows_partial_returns_only_rows(console: Console) -> None:
    await console.signed_in("agent")
    solar = await console.submit(service_type="solar_repair")
    await console.submit(service_type="electrical_repair")
    response = await console.client.get("/console/queue/rows?pipeline=solar")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.text.strip()
    assert body.startswith("<tbody")
    assert body.endswith("</tbody>")
    for absent in ("<html", "<nav", "<form", "<thead", "csrf_token"):
        assert absent not in body
    assert references(body) == [solar]


async def test_rows_partial_query_count_is_flat(console: Console) -> None:
    """The rows take one query for tickets and one for clocks, however many tickets match."""
    await console.signed_in("agent")
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # The live-update broadcaster polls outbox_events in the background; skip it.
        if "sla_clocks" in statement or "tickets" in statement:
            statements.append(statement)

    engine = console.db.engine.sync_engine
    for tickets in (2, 6):
        for _ in range(tickets):
            await console.submit()
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            response = await console.client.get("/console/queue/rows")
        finally:
            event.remove(engine, "before_cursor_execute", record)
        assert response.status_code == 200
        assert len(statements) == 2, statements
        assert statements[0].startswith("SELECT tickets.id")
        assert statements[1].startswith("SELECT sla_clocks.ticket_id")
    assert len(references((await console.client.get("/console/queue/rows")).text)) == 8


# Saved views


async def test_saved_view_is_listed_as_link(console: Console) -> None:
    await console.signed_in("agent")
    response = await console.post(
        "/console/queue/views",
        {"name": "Urgent solar", "pipeline": "solar", "priority": "urgent", "status": "open"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/queue?pipeline=solar&priority=urgent"

    page = parse_page(await queue_html(console))
    link = page.one("saved-view-link")
    assert link.text == "Urgent solar"
    assert link.attrs["href"] == "/console/queue?pipeline=solar&priority=urgent"


async def test_saved_view_same_name_replaces(console: Console) -> None:
    await console.signed_in("agent")
    for priority in ("high", "low"):
        response = await console.post(
            "/console/queue/views", {"name": "Mine", "priority": priority, "assignee": "me"}
        )
        assert response.status_code == 303
    links = parse_page(await queue_html(console)).all("saved-view-link")
    assert [link.attrs["href"] for link in links] == ["/console/queue?priority=low&assignee=me"]


async def test_saved_views_belong_to_their_user(console: Console) -> None:
    await console.signed_in("agent")
    await console.post("/console/queue/views", {"name": "Breached", "breached": "1"})
    await console.signed_in("agent")
    assert not parse_page(await queue_html(console)).has("saved-view")


async def test_saved_view_needs_a_name(console: Console) -> None:
    await console.signed_in("agent")
    response = await console.post("/console/queue/views", {"name": "   ", "priority": "high"})
    assert response.status_code == 422
    page = parse_page(response.text)
    assert page.one("view-error").text == "Enter a name for the view."
    assert not page.has("saved-view")


async def test_saved_view_delete(console: Console) -> None:
    await console.signed_in("agent")
    await console.post("/console/queue/views", {"name": "Keep", "priority": "high"})
    await console.post("/console/queue/views", {"name": "Drop", "priority": "low"})
    views = parse_page(await queue_html(console)).all("saved-view")
    drop = next(view for view in views if view.text.startswith("Drop"))
    response = await console.post(f"/console/queue/views/{drop.attrs['data-view-id']}/delete", {})
    assert response.status_code == 303
    names = [link.text for link in parse_page(await queue_html(console)).all("saved-view-link")]
    assert names == ["Keep"]


async def test_saved_view_of_another_user_is_not_deleted(console: Console) -> None:
    owner = await console.signed_in("agent")
    await console.post("/console/queue/views", {"name": "Private", "priority": "high"})
    view_id = parse_page(await queue_html(console)).one("saved-view").attrs["data-view-id"]
    await console.signed_in("agent")
    response = await console.post(f"/console/queue/views/{view_id}/delete", {})
    assert response.status_code == 404
    await console.sign_in(owner)
    assert parse_page(await queue_html(console)).has("saved-view")


async def test_saved_view_rejects_missing_csrf(console: Console) -> None:
    await console.signed_in("agent")
    response = await console.post("/console/queue/views", {"name": "Sneaky"}, csrf=False)
    assert response.status_code == 403
    assert not parse_page(await queue_html(console)).has("saved-view")
