"""The technicians' pages: my tasks, taking a task, stage moves and comments."""

from __future__ import annotations

from datetime import timedelta

from console_agent_support import Console, Page, parse_page

from opsdesk.clock import FrozenClock


def cards(page: Page, section: str) -> list[str]:
    """Return the task references of the cards inside the section with this data-testid."""
    html = page.html
    start = html.index(f'data-testid="{section}"')
    end = html.index("</section>", start)
    return [card.attrs["data-task"] for card in parse_page(html[start:end]).all("task-card")]


async def my_tasks(console: Console, status: int = 200) -> Page:
    return await console.page("/console/my-tasks", status)


async def test_technician_sees_team_pool(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit(service_type="solar_repair")  # TK-000001, solar crew
    await console.submit(service_type="hvac_repair")  # TK-000002, HVAC crew
    page = await my_tasks(console)
    assert cards(page, "assigned-tasks") == []
    assert cards(page, "team-tasks") == ["TK-000001"]
    assert "Teams: Solar crew" in page.one("team-tasks").text


async def test_technician_without_team_sees_hint(console: Console) -> None:
    await console.signed_in("technician")
    await console.submit()
    page = await my_tasks(console)
    assert "not a member of any team" in page.one("team-tasks").text
    assert not page.has("task-card")


async def test_task_card_shows_site_and_due(console: Console, clock: FrozenClock) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    ticket = await console.submit(
        contact_method="site_visit", site_address="Plot 5, Admiralty Way & Lekki/Phase 1"
    )
    page = await my_tasks(console)
    card = page.one("task-card")
    assert card.attrs["data-state"] == "on_track"
    assert page.one("task-title").text == "Diagnose and repair the solar system"
    assert page.one("task-ticket").text == ticket
    assert page.one("task-stage").text == "To do"
    link = page.one("maps-link")
    assert link.text == "Plot 5, Admiralty Way & Lekki/Phase 1"
    assert link.attrs["href"] == (
        "https://www.openstreetmap.org/search?query="
        "Plot%205%2C%20Admiralty%20Way%20%26%20Lekki%2FPhase%201"
    )
    # Solar medium: 24 field-crew hours from Tue 10:00 in Lagos is Thu 17:00.
    assert page.one("countdown").attrs["data-due"] == "2026-03-12T16:00:00+00:00"
    assert page.one("countdown").text == "2d 07h 00m left"

    # The warning comes at 75 % (18 field hours): Thu 10:00 in Lagos.
    clock.advance(timedelta(days=2, minutes=30))
    await console.signed_in("technician", teams=["solar_crew"])
    page = await my_tasks(console)
    assert page.one("task-card").attrs["data-state"] == "at_risk"


async def test_take_task_moves_it_to_mine(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    response = await console.post("/console/tasks/TK-000001/take", {"return_to": "list"})
    assert response.status_code == 303
    assert response.headers["location"] == "/console/my-tasks?saved=taken#task-TK-000001"
    page = await console.page(response.headers["location"])
    assert page.one("notice").text == "The task is yours now."
    assert cards(page, "assigned-tasks") == ["TK-000001"]
    assert cards(page, "team-tasks") == []
    assert not page.has("take-task")


async def test_take_assigned_task_rejected(console: Console) -> None:
    first = await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    await console.signed_in("technician", teams=["solar_crew"])
    response = await console.post("/console/tasks/TK-000001/take", {"return_to": "task"})
    assert response.status_code == 409
    error = parse_page(response.text).one("task-error-TK-000001").text
    assert error == (
        f"Task TK-000001 is already assigned to {first.email}; ask a supervisor to reassign it."
    )


async def test_take_other_team_task_rejected(console: Console) -> None:
    await console.signed_in("technician", teams=["hvac_crew"])
    await console.submit(service_type="solar_repair")
    response = await console.post("/console/tasks/TK-000001/take", {})
    assert response.status_code == 403
    assert "which you are not a member of" in response.text


async def test_stage_move_through_buttons(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    ticket = await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    page = await my_tasks(console)
    moves = [
        button.attrs["value"]
        for button in page.all("move-scheduled")
        + page.all("move-in_progress")
        + page.all("move-waiting_parts")
        + page.all("move-done")
    ]
    assert moves == ["scheduled", "in_progress", "waiting_parts", "done"]
    assert not page.has("move-todo")

    response = await console.post(
        "/console/tasks/TK-000001/stage", {"stage": "in_progress", "return_to": "list"}
    )
    assert response.status_code == 303
    page = await console.page(response.headers["location"])
    assert page.one("notice").text == "Stage changed."
    assert page.one("task-stage").text == "In progress"

    response = await console.post("/console/tasks/TK-000001/stage", {"stage": "done"})
    assert response.status_code == 303
    page = await my_tasks(console)
    assert cards(page, "assigned-tasks") == []  # completed tasks leave the list

    agent = await console.account("agent")
    await console.sign_in(agent)
    ticket_page = await console.page(f"/console/tickets/{ticket}")
    kinds = [entry.attrs["data-kind"] for entry in ticket_page.all("history-entry")]
    assert "task.stage_changed" in kinds
    assert ticket_page.one("task-stage").text == "Done"


async def test_waiting_for_parts_pauses_the_task(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    await console.post("/console/tasks/TK-000001/stage", {"stage": "waiting_parts"})
    page = await my_tasks(console)
    assert page.one("task-card").attrs["data-state"] == "paused"
    assert page.one("task-stage").text == "Waiting for parts"


async def test_unknown_stage_shows_error(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    response = await console.post("/console/tasks/TK-000001/stage", {"stage": "teleported"})
    assert response.status_code == 422
    error = parse_page(response.text).one("task-error-TK-000001").text
    assert "Unknown stage in pipeline solar 'teleported'" in error


async def test_move_others_task_rejected(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    await console.signed_in("technician", teams=["solar_crew"])
    response = await console.post("/console/tasks/TK-000001/stage", {"stage": "done"})
    assert response.status_code == 403
    assert "is not assigned to you" in response.text


async def test_move_on_closed_ticket_rejected(console: Console) -> None:
    technician = await console.signed_in("technician", teams=["solar_crew"])
    ticket = await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    await console.signed_in("agent")
    await console.post(f"/console/tickets/{ticket}/status", {"status": "closed"})
    await console.sign_in(technician)
    response = await console.post(
        "/console/tasks/TK-000001/stage", {"stage": "done", "return_to": "task"}
    )
    assert response.status_code == 409
    page = parse_page(response.text)
    assert "closed tickets and their tasks cannot change" in page.one("task-error-TK-000001").text
    assert not page.has("stage-form")


async def test_comment_becomes_internal_note(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    ticket = await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    response = await console.post(
        "/console/tasks/TK-000001/comments",
        {"comment": "Inverter fan is dead; ordering a new one.", "return_to": "task"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/tasks/TK-000001?saved=comment"
    page = await console.page(response.headers["location"])
    assert page.one("notice").text == "Comment added to the ticket as an internal note."

    ticket_page = await console.page(f"/console/tickets/{ticket}")
    last = ticket_page.all("message")[-1]
    assert last.attrs["data-visibility"] == "internal"
    assert ticket_page.all("message-body")[-1].text == (
        "[TK-000001] Inverter fan is dead; ordering a new one."
    )


async def test_empty_comment_shows_error(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    await console.post("/console/tasks/TK-000001/take", {})
    response = await console.post("/console/tasks/TK-000001/comments", {"comment": "  "})
    assert response.status_code == 422
    assert parse_page(response.text).one("task-error-TK-000001").text == "Write a comment first."


async def test_task_forms_reject_missing_csrf(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    for action, data in (
        ("take", {}),
        ("stage", {"stage": "done"}),
        ("comments", {"comment": "no token"}),
    ):
        response = await console.post(f"/console/tasks/TK-000001/{action}", data, csrf=False)
        assert response.status_code == 403, action
    page = await my_tasks(console)
    assert cards(page, "team-tasks") == ["TK-000001"]
    assert page.one("task-stage").text == "To do"


async def test_task_page_shows_one_task(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await console.submit()
    page = await console.page("/console/tasks/TK-000001")
    assert page.one("task-page").attrs["data-refresh-url"] == "/console/tasks/TK-000001"
    assert page.one("task-card").attrs["data-task"] == "TK-000001"
    response = await console.client.get("/console/tasks/TK-999999")
    assert response.status_code == 404


async def test_supervisor_works_on_any_task(console: Console) -> None:
    await console.signed_in("supervisor")
    await console.submit()
    page = await console.page("/console/tasks/TK-000001")
    assert page.has("stage-form")
    response = await console.post("/console/tasks/TK-000001/stage", {"stage": "scheduled"})
    assert response.status_code == 303
    page = await console.page("/console/tasks/TK-000001")
    assert page.one("task-stage").text == "Scheduled"


async def test_my_tasks_page_fits_a_phone(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    page = await my_tasks(console)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.html
    root = page.one("my-tasks-page")
    assert "task.stage_changed" in root.attrs["data-refresh-on"].split()
