"""Text that users type renders as text on the queue, ticket and task pages."""

from __future__ import annotations

from console_agent_support import XSS_ATTRIBUTE, XSS_SCRIPT, Console, parse_page

ESCAPED_SCRIPT = "&lt;script&gt;alert(1)&lt;/script&gt;"
ESCAPED_ATTRIBUTE = "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"


def assert_escaped(html: str) -> None:
    assert XSS_SCRIPT not in html
    assert "<img src=x" not in html
    assert ESCAPED_SCRIPT in html
    assert ESCAPED_ATTRIBUTE in html


async def hostile_ticket(console: Console) -> str:
    return await console.submit(
        name=f"Eve {XSS_ATTRIBUTE}",
        subject=f"Broken {XSS_SCRIPT} {XSS_ATTRIBUTE}",
        description=f"{XSS_SCRIPT}\n{XSS_ATTRIBUTE}",
        contact_method="site_visit",
        site_address=f"{XSS_ATTRIBUTE} {XSS_SCRIPT}",
    )


async def test_queue_escapes_ticket_text(console: Console) -> None:
    await console.signed_in("agent")
    await hostile_ticket(console)
    response = await console.client.get("/console/queue")
    assert_escaped(response.text)
    subject = parse_page(response.text).one("subject").text
    assert subject == f"Broken {XSS_SCRIPT} {XSS_ATTRIBUTE}"


async def test_ticket_page_escapes_typed_text(console: Console) -> None:
    await console.signed_in("agent")
    reference = await hostile_ticket(console)
    for visibility in ("public", "internal"):
        response = await console.post(
            f"/console/tickets/{reference}/messages",
            {"body": f"{visibility} {XSS_SCRIPT} {XSS_ATTRIBUTE}", "visibility": visibility},
        )
        assert response.status_code == 303
    response = await console.client.get(f"/console/tickets/{reference}")
    assert_escaped(response.text)
    page = parse_page(response.text)
    bodies = [body.text for body in page.all("message-body")]
    assert f"public {XSS_SCRIPT} {XSS_ATTRIBUTE}" in bodies
    assert f"internal {XSS_SCRIPT} {XSS_ATTRIBUTE}" in bodies
    # The maps link carries the address URL-encoded.
    assert "query=%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E%20%3Cscript%3E" in (
        response.text
    )


async def test_form_errors_escape_typed_text(console: Console) -> None:
    await console.signed_in("agent")
    reference = await console.submit()
    await console.post(f"/console/tickets/{reference}/status", {"status": "closed"})
    response = await console.post(
        f"/console/tickets/{reference}/messages",
        {"body": f"{XSS_SCRIPT} {XSS_ATTRIBUTE}", "visibility": "public"},
    )
    assert response.status_code == 409
    assert_escaped(response.text)
    response = await console.post(
        f"/console/tickets/{reference}/status", {"status": XSS_ATTRIBUTE + XSS_SCRIPT}
    )
    assert response.status_code == 422
    assert_escaped(response.text)


async def test_saved_view_name_is_escaped(console: Console) -> None:
    await console.signed_in("agent")
    response = await console.post(
        "/console/queue/views", {"name": f"{XSS_SCRIPT}{XSS_ATTRIBUTE}", "priority": "high"}
    )
    assert response.status_code == 303
    response = await console.client.get("/console/queue")
    assert_escaped(response.text)
    assert parse_page(response.text).one("saved-view-link").text == XSS_SCRIPT + XSS_ATTRIBUTE


async def test_queue_filter_values_are_escaped(console: Console) -> None:
    await console.signed_in("agent")
    response = await console.client.get(
        "/console/queue", params={"pipeline": XSS_SCRIPT, "priority": XSS_ATTRIBUTE}
    )
    assert response.status_code == 200
    assert_escaped(response.text)


async def test_task_pages_escape_ticket_text(console: Console) -> None:
    await console.signed_in("technician", teams=["solar_crew"])
    await hostile_ticket(console)
    await console.post("/console/tasks/TK-000001/take", {})
    response = await console.post(
        "/console/tasks/TK-000001/comments", {"comment": f"{XSS_SCRIPT}{XSS_ATTRIBUTE}\x01"}
    )
    assert response.status_code == 422
    assert_escaped(response.text)
    for path in ("/console/my-tasks", "/console/tasks/TK-000001"):
        response = await console.client.get(path)
        assert_escaped(response.text)
        page = parse_page(response.text)
        assert page.one("maps-link").text == f"{XSS_ATTRIBUTE} {XSS_SCRIPT}"
        assert page.one("task-ticket-subject").text == f"Broken {XSS_SCRIPT} {XSS_ATTRIBUTE}"
