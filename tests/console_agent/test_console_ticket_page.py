"""The console's ticket page: content, replies and notes, status, priority and assignment."""

from __future__ import annotations

from datetime import timedelta

from console_agent_support import Console, Page, parse_page

from opsdesk.clock import FrozenClock


async def ticket_page(console: Console, reference: str, status: int = 200) -> Page:
    return await console.page(f"/console/tickets/{reference}", status)


def messages(page: Page) -> list[tuple[str, str]]:
    """Return (visibility, body) of each message in the conversation."""
    return [
        (message.attrs["data-visibility"], body.text)
        for message, body in zip(page.all("message"), page.all("message-body"), strict=True)
    ]


def clock_states(page: Page) -> list[str]:
    return [clock.attrs["data-state"] for clock in page.all("sla-clock")]


async def test_ticket_page_shows_the_ticket(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit(
        subject="Generator will not start",
        description="It clicks but does not start.",
        contact_method="site_visit",
        site_address="12 Allen Avenue, Ikeja, Lagos",
    )
    page = await ticket_page(console, reference)

    assert page.one("ticket-subject").text == "Generator will not start"
    assert page.one("requester-name").text == "Ada Obi"
    assert "ada@example.com" in page.one("requester").text
    assert "+234 803 555 0101" in page.one("requester").text
    assert page.one("site-address").text.startswith("12 Allen Avenue, Ikeja, Lagos")
    assert (
        "https://www.openstreetmap.org/search?query=12%20Allen%20Avenue%2C%20Ikeja%2C%20Lagos"
        in page.html
    )
    assert page.one("description").text == "It clicks but does not start."
    assert page.one("ticket-status").attrs["data-status"] == "new"
    assert messages(page) == [("public", "It clicks but does not start.")]
    assert page.one("ticket-task").attrs["data-task"] == "TK-000001"
    assert page.one("task-stage").text == "To do"
    assert page.has("history-entry")


async def test_ticket_page_shows_sla_clocks(console: Console, clock: FrozenClock) -> None:
    await console.signed_in("agent")
    reference = await console.submit(priority="medium")
    clock.advance(timedelta(hours=1))
    page = await ticket_page(console, reference)

    clocks = page.all("sla-clock")
    assert [element.text.split(" ")[0] for element in clocks] == ["First", "Resolution"]
    assert clock_states(page) == ["on_track", "on_track"]
    assert [element.text for element in page.all("clock-elapsed")][:2] == ["1h 00m", "1h 00m"]
    assert [element.text for element in page.all("clock-paused")][:2] == ["0m", "0m"]
    assert "3h 00m 00s left" in clocks[0].text
    timelines = page.all("clock-timeline")
    assert "first_response started" in timelines[0].text


async def test_ticket_page_shows_breach_and_causes(console: Console, clock: FrozenClock) -> None:
    await console.signed_in("agent")
    reference = await console.submit(priority="urgent")
    clock.advance(timedelta(minutes=25))
    await console.fire_clocks()
    page = await ticket_page(console, reference)
    assert clock_states(page)[0] == "at_risk"

    clock.advance(timedelta(minutes=10))
    await console.fire_clocks()
    page = await ticket_page(console, reference)
    assert clock_states(page)[0] == "breached"
    first_response = page.all("clock-timeline")[0].text
    assert "first_response warning" in first_response
    assert "first_response breached" in first_response


async def test_ticket_page_lists_resolution_risks(console: Console) -> None:
    await console.signed_in("agent")
    # Urgent: the ticket must be resolved within 4 office hours, but the solar crew's
    # operational target is 6 field hours.
    reference = await console.submit(priority="urgent")
    page = await ticket_page(console, reference)
    risk = page.one("risk")
    assert risk.attrs["data-task"] == "TK-000001"
    assert "Operational due is after the ticket's resolution due." in risk.text


async def test_public_reply_meets_first_response(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/messages",
        {"body": "We will call you at 14:00.", "visibility": "public"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/console/tickets/{reference}?saved=reply#conversation"
    )

    page = await console.page(response.headers["location"])
    assert page.one("notice").text == "Public reply sent."
    assert messages(page)[-1] == ("public", "We will call you at 14:00.")
    assert not page.has("internal-tag")
    assert page.one("ticket-status").attrs["data-status"] == "open"
    assert clock_states(page)[0] == "met"


async def test_internal_note_stays_internal(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/messages",
        {"body": "Customer sounded upset; call first.", "visibility": "internal"},
    )
    assert response.status_code == 303

    page = await console.page(response.headers["location"])
    assert page.one("notice").text == "Internal note added."
    assert messages(page)[-1] == ("internal", "Customer sounded upset; call first.")
    assert page.one("internal-tag").text == "Internal note"
    assert page.one("ticket-status").attrs["data-status"] == "new"
    assert clock_states(page)[0] == "on_track"


async def test_reply_without_csrf_token_is_rejected(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/messages",
        {"body": "Sent without a token", "visibility": "public"},
        csrf=False,
    )
    assert response.status_code == 403
    assert "security token" in response.text
    wrong = await console.client.post(
        f"/console/tickets/{reference}/messages",
        data={"csrf_token": "forged", "body": "Forged token", "visibility": "public"},
    )
    assert wrong.status_code == 403
    page = await ticket_page(console, reference)
    assert len(page.all("message")) == 1


async def test_empty_reply_shows_error(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/messages", {"body": "   ", "visibility": "public"}
    )
    assert response.status_code == 422
    page = parse_page(response.text)
    assert page.one("reply-error").text == "Write a message first."
    assert len(page.all("message")) == 1


async def test_reply_on_closed_ticket_keeps_text(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    closed = await console.post(f"/console/tickets/{reference}/status", {"status": "closed"})
    assert closed.status_code == 303
    response = await console.post(
        f"/console/tickets/{reference}/messages",
        {"body": "Are you still there?", "visibility": "public"},
    )
    assert response.status_code == 409
    page = parse_page(response.text)
    assert "is closed, so it cannot take replies" in page.one("reply-error").text
    assert ">Are you still there?</textarea>" in response.text


async def test_status_change_through_form(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/status",
        {"status": "waiting_on_customer", "reason": "asked for a photo"},
    )
    assert response.status_code == 303
    page = await console.page(response.headers["location"])
    assert page.one("notice").text == "Status changed."
    assert page.one("ticket-status").attrs["data-status"] == "waiting_on_customer"
    assert clock_states(page) == ["on_track", "paused"]
    assert any(
        "Status changed from new to waiting_on_customer (asked for a photo)" in entry.text
        for entry in page.all("history-entry")
    )


async def test_same_status_reports_nothing_changed(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(f"/console/tickets/{reference}/status", {"status": "new"})
    assert response.status_code == 303
    page = await console.page(response.headers["location"])
    assert page.one("notice").text == "Nothing changed: the ticket already had that value."


async def test_rejected_status_change_shows_error(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    await console.post(f"/console/tickets/{reference}/status", {"status": "closed"})
    response = await console.post(f"/console/tickets/{reference}/status", {"status": "open"})
    assert response.status_code == 409
    page = parse_page(response.text)
    error = page.one("status-error").text
    assert error.startswith(f"Ticket {reference} is closed, so it cannot move to open")
    assert page.one("ticket-status").attrs["data-status"] == "closed"
    assert '<option value="open" selected>' in response.text


async def test_unknown_status_shows_error(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(f"/console/tickets/{reference}/status", {"status": "lost"})
    assert response.status_code == 422
    assert "Unknown status 'lost'" in parse_page(response.text).one("status-error").text


async def test_long_reason_shows_error(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/status", {"status": "open", "reason": "x" * 501}
    )
    assert response.status_code == 422
    error = parse_page(response.text).one("status-error").text
    assert error == "The reason is too long: at most 500 characters."


async def test_priority_change_through_form(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit(priority="medium")
    response = await console.post(
        f"/console/tickets/{reference}/priority", {"priority": "urgent", "reason": ""}
    )
    assert response.status_code == 303
    page = await console.page(response.headers["location"])
    assert page.one("ticket-priority").attrs["data-priority"] == "urgent"
    assert page.one("notice").text == "Priority changed."


async def test_rejected_priority_change_shows_error(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit(priority="medium")
    response = await console.post(f"/console/tickets/{reference}/priority", {"priority": "extreme"})
    assert response.status_code == 422
    assert "Unknown priority 'extreme'" in parse_page(response.text).one("priority-error").text

    await console.post(f"/console/tickets/{reference}/status", {"status": "closed"})
    response = await console.post(f"/console/tickets/{reference}/priority", {"priority": "high"})
    assert response.status_code == 409
    error = parse_page(response.text).one("priority-error").text
    assert "is closed, so it cannot change priority" in error


async def test_assignment_through_form(console: Console) -> None:
    technician = await console.account("technician", teams=["solar_crew"])
    await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/assignment",
        {"team": "solar_crew", "assignee": technician.email},
    )
    assert response.status_code == 303
    page = await console.page(response.headers["location"])
    assert page.one("ticket-assignee").text == technician.email
    assert page.one("ticket-team").text == "Solar crew"


async def test_assignment_errors_are_shown(console: Console) -> None:
    agent = await console.signed_in("agent")
    reference = await console.submit()
    response = await console.post(
        f"/console/tickets/{reference}/assignment",
        {"team": "solar_crew", "assignee": "nobody@example.com"},
    )
    assert response.status_code == 422
    error = parse_page(response.text).one("assignment-error").text
    assert error == "No active user with e-mail nobody@example.com."

    await console.post(
        f"/console/tickets/{reference}/assignment", {"team": "solar_crew", "assignee": agent.email}
    )
    response = await console.post(
        f"/console/tickets/{reference}/assignment", {"team": "solar_crew", "assignee": ""}
    )
    assert response.status_code == 422
    error = parse_page(response.text).one("assignment-error").text
    assert error.startswith("To take the ticket off its assignee")


async def test_technician_reads_ticket_without_controls(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    reference = await console.submit()
    page = await ticket_page(console, reference)
    assert page.has("conversation")
    for form in ("reply-form", "status-form", "priority-form", "assignment-form"):
        assert not page.has(form)
    response = await console.post(
        f"/console/tickets/{reference}/messages", {"body": "Hello", "visibility": "public"}
    )
    assert response.status_code == 403


async def test_unknown_ticket_is_not_found(console: Console) -> None:
    await console.signed_in("agent")
    response = await console.client.get("/console/tickets/SR-999999")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    response = await console.client.get("/console/tickets/not-a-reference")
    assert response.status_code == 404


async def test_ticket_page_is_ready_for_live_updates(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    page = await ticket_page(console, reference)
    root = page.one("ticket-page")
    assert root.attrs["data-ticket-id"] == "1"
    assert root.attrs["data-refresh-url"] == f"/console/tickets/{reference}"
    events = root.attrs["data-refresh-on"].split()
    for event in ("ticket.customer_replied", "ticket.status_changed", "sla.breached"):
        assert event in events
    for part in ("ticket-summary", "conversation", "sla", "tasks", "history"):
        assert f'id="{part}"' in page.html
    assert '<script src="/static/console.js" defer></script>' in page.html
