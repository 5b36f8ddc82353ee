"""Script-injection payloads typed into every user field render as text on every page.

Customers, agents and technicians type the payloads through the real forms. Then each
page that shows a field is opened in Chromium and checked three ways. The payload text is
visible as typed. No payload script ran: `window.__xss` stays undefined and no dialog
opened. No payload became an element or a `javascript:` link.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from browser_support import (
    NewContext,
    PageWatch,
    Servers,
    assign_task_to,
    fill_request_form,
    fire_clocks_at,
    make_staff,
    send_request_form,
    sign_in,
    task_references_of,
)
from playwright.async_api import Locator, Page, expect

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAYLOADS = (
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=1">',
    "<svg onload=window.__xss=1>",
    "javascript:window.__xss=1",
    "{{7*7}}",
    "</textarea><script>window.__xss=1</script>",
    "<img src=x onerror=alert(1)>",
    "</title><script>window.__xss=1</script>",
    '\'><iframe srcdoc="<script>parent.__xss=1</script>">',
)
SHORT_FIELD = 200
"""Maximum length of the name and the subject that the intake accepts."""
VIEW_NAME = 100
"""Maximum length of a saved view's name."""
OPENSTREETMAP = re.compile(r"^https://www\.openstreetmap\.org/search\?query=")

INJECTED_ELEMENTS = "script:not([src]), [onerror], [onload], iframe[srcdoc]"
"""Elements that only a payload parsed as markup would create: the pages have none."""


def pack(payloads: tuple[str, ...], limit: int) -> list[str]:
    """Join the payloads with spaces into as few strings of at most `limit` characters."""
    packed: list[str] = []
    for payload in payloads:
        if packed and len(packed[-1]) + 1 + len(payload) <= limit:
            packed[-1] += " " + payload
        else:
            packed.append(payload)
    return packed


async def assert_inert(page: Page, watch: PageWatch) -> None:
    """Assert that no payload ran or became markup on the page."""
    await page.wait_for_load_state("load")
    assert await page.evaluate("() => typeof window.__xss") == "undefined", page.url
    assert watch.dialogs == [], (page.url, watch.dialogs)
    injected = await page.locator(INJECTED_ELEMENTS).count()
    assert injected == 0, f"{page.url} has {injected} elements made from a payload"
    links = await page.eval_on_selector_all(
        "a[href]", "links => links.map(link => link.getAttribute('href'))"
    )
    scripted = [href for href in links if href.strip().lower().startswith("javascript:")]
    assert scripted == [], (page.url, scripted)


async def shows(locator: Locator, text: str) -> None:
    await expect(locator).to_be_visible()
    await expect(locator).to_contain_text(text)


async def test_payloads_render_as_text(
    servers: Servers, new_context: NewContext, watch: PageWatch
) -> None:
    server = await servers.opsdesk()
    agent = await make_staff(server, "agent")
    technician = await make_staff(server, "technician", teams=["solar_crew"])
    supervisor = await make_staff(server, "supervisor")
    texts = pack(PAYLOADS, SHORT_FIELD)
    view_names = pack(PAYLOADS, VIEW_NAME)
    assert sorted(" ".join(texts).split(" ")) == sorted(" ".join(PAYLOADS).split(" "))

    # The customer's form comes back with every field as typed when one field is invalid.
    customer = await (await new_context(server.url)).new_page()
    for text in texts:
        await customer.goto("/request?service_type=solar_repair")
        await fill_request_form(
            customer,
            name=text,
            email="not-an-address",
            subject=text,
            description=text,
            contact="Site visit",
            site_address=text,
        )
        # The browser's own check would stop the form before it reaches the server.
        await customer.locator("#request-form").evaluate("form => form.noValidate = true")
        await customer.get_by_test_id("submit-request").click()
        await expect(customer.get_by_test_id("error-email")).to_be_visible()
        for field in ("name", "subject", "description", "site_address"):
            await expect(customer.locator(f"#field-{field}")).to_have_value(text)
        await assert_inert(customer, watch)

    sent = []
    for text in texts:
        await customer.goto("/request?service_type=solar_repair")
        await fill_request_form(
            customer,
            name=text,
            email="payload@example.com",
            subject=text,
            description=text,
            contact="Site visit",
            site_address=text,
        )
        sent.append(await send_request_form(customer))
        await assert_inert(customer, watch)
    for request in sent:
        for task in await task_references_of(server, request.reference):
            await assign_task_to(server, task, technician)

    # The agent replies and notes on each ticket, and saves views named with payloads.
    agent_page = await (await new_context(server.url)).new_page()
    await sign_in(agent_page, agent)
    for request, text in zip(sent, texts, strict=True):
        await agent_page.goto(f"/console/tickets/{request.reference}")
        for button, notice in (("send-public", "Public reply sent."), ("add-note", "Internal")):
            await agent_page.get_by_label("Message").fill(text)
            await agent_page.get_by_test_id(button).click()
            await expect(agent_page.get_by_test_id("notice")).to_contain_text(notice)
            await assert_inert(agent_page, watch)
    await agent_page.goto("/console/queue")
    for name in view_names:
        await agent_page.get_by_label("Name for the current filters").fill(name)
        await agent_page.get_by_role("button", name="Save view").click()
        await agent_page.wait_for_url("**/console/queue")
        await assert_inert(agent_page, watch)

    # The technician comments on each task from the phone list.
    technician_page = await (await new_context(server.url)).new_page()
    await sign_in(technician_page, technician)
    for request, text in zip(sent, texts, strict=True):
        card = technician_page.get_by_test_id("task-card").filter(
            has=technician_page.locator(
                f'[data-testid="task-ticket"]:text-is("{request.reference}")'
            )
        )
        await card.get_by_label("Comment").fill(text)
        await card.get_by_test_id("add-comment").click()
        await expect(technician_page.get_by_test_id("notice")).to_contain_text("Comment added")
        await assert_inert(technician_page, watch)

    # Ten days on, the resolution and task clocks have breached: alerts for the dashboard.
    assert await fire_clocks_at(server, server.ctx.clock.now() + timedelta(days=10)) > 0

    # Queue: subjects and saved view names.
    await agent_page.goto("/console/queue")
    await assert_inert(agent_page, watch)
    for request, text in zip(sent, texts, strict=True):
        row = agent_page.locator(f'[data-testid="queue-row"][data-reference="{request.reference}"]')
        await shows(row.get_by_test_id("subject"), text)
    view_links = agent_page.get_by_test_id("saved-view-link")
    await expect(view_links).to_have_count(len(view_names))
    for name in view_names:
        await expect(view_links.filter(has_text=name)).to_have_count(1)

    # Ticket page: every field, the reply, the note and the technician's comment.
    for request, text in zip(sent, texts, strict=True):
        await agent_page.goto(f"/console/tickets/{request.reference}")
        await assert_inert(agent_page, watch)
        assert text in await agent_page.title()
        for testid in ("ticket-subject", "requester-name", "site-address", "description"):
            await shows(agent_page.get_by_test_id(testid), text)
        # The description, the public reply, the note and the technician's comment; the
        # escalations' notes are the other messages.
        bodies = agent_page.get_by_test_id("message-body").filter(has_text=text)
        await expect(bodies).to_have_count(4)
        for index in range(4):
            await shows(bodies.nth(index), text)
        map_link = agent_page.get_by_test_id("site-address").get_by_role("link")
        await expect(map_link).to_have_attribute("href", OPENSTREETMAP)

    # My tasks: the ticket subject and the site address as a map link.
    await technician_page.goto("/console/my-tasks")
    await assert_inert(technician_page, watch)
    for request, text in zip(sent, texts, strict=True):
        card = technician_page.get_by_test_id("task-card").filter(
            has=technician_page.locator(
                f'[data-testid="task-ticket"]:text-is("{request.reference}")'
            )
        )
        await shows(card.get_by_test_id("task-ticket-subject"), text)
        await shows(card.get_by_test_id("maps-link"), text)
        await expect(card.get_by_test_id("maps-link")).to_have_attribute("href", OPENSTREETMAP)

    # Dashboard alerts and the solar board show ticket subjects.
    supervisor_page = await (await new_context(server.url)).new_page()
    await sign_in(supervisor_page, supervisor)
    await assert_inert(supervisor_page, watch)
    for request, text in zip(sent, texts, strict=True):
        alerts = supervisor_page.locator(
            f'[data-testid="alert"][data-reference="{request.reference}"]'
        )
        await shows(alerts.first.locator(".alert-subject"), text)
    await supervisor_page.goto("/console/boards/solar")
    await assert_inert(supervisor_page, watch)
    for text in texts:
        await shows(supervisor_page.locator(".card-subject").filter(has_text=text).first, text)

    # The customer's status page: subject, description and the public reply, not the note.
    for request, text in zip(sent, texts, strict=True):
        await customer.goto(request.status_url)
        await assert_inert(customer, watch)
        await shows(customer.get_by_test_id("subject"), text)
        messages = customer.get_by_test_id("message")
        await expect(messages).to_have_count(2)
        for index in range(2):
            await shows(messages.nth(index).locator(".body"), text)
