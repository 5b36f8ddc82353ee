"""Customer, agent, supervisor and technician flows in a real browser, on live servers."""

from __future__ import annotations

import re

import httpx
import pytest
from browser_support import (
    FAST_CLOCKS_WORKSPACE,
    NewContext,
    Servers,
    assign_task_to,
    create_ticket,
    make_staff,
    no_horizontal_scroll,
    sign_in,
    ticket_channel,
)
from playwright.async_api import Page, expect

from opsdesk.tasks import service as task_service

pytestmark = pytest.mark.asyncio(loop_scope="session")

PHONE = {
    "viewport": {"width": 375, "height": 812},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


async def mark_loaded(page: Page) -> None:
    """Leave a flag in the page's window; a reload or navigation would drop it."""
    await page.evaluate("() => { window.__opsdeskTestLoaded = true; }")


async def still_loaded(page: Page) -> bool:
    result: bool = await page.evaluate("() => window.__opsdeskTestLoaded === true")
    return result


async def test_widget_request_reaches_open_queue(servers: Servers, new_context: NewContext) -> None:
    demo_origin = servers.reserve_origin()
    server = await servers.opsdesk(allowed_origins=[demo_origin])
    site = servers.widget_demo(server)
    agent = await make_staff(server, "agent")
    subject = "Solar batteries drain before midnight"

    queue = await (await new_context(server.url)).new_page()
    await sign_in(queue, agent)
    await expect(queue.get_by_test_id("queue-empty")).to_be_visible()
    await mark_loaded(queue)

    demo = await (await new_context(site.url)).new_page()
    await demo.goto("/")
    await demo.get_by_test_id("opsdesk-widget-button").click()
    form = demo.frame_locator('[data-testid="opsdesk-widget-frame"]')
    await expect(form.get_by_label("Service")).to_have_value("solar_repair")
    await form.get_by_label("Your name").fill("Chiamaka Eze")
    await form.get_by_label("Email", exact=True).check()
    await form.get_by_label("E-mail", exact=True).fill("chiamaka.eze@example.com")
    await form.get_by_label("Subject", exact=True).fill(subject)
    await form.get_by_label("Description", exact=True).fill(
        "The batteries show 20% at 11 pm although the panels charge them all day."
    )
    await form.get_by_test_id("submit-request").click()
    reference_text = form.locator('[data-testid="sent"] [data-testid="reference"]')
    await expect(reference_text).to_have_text(re.compile(r"^SR-\d+$"))
    reference = (await reference_text.inner_text()).strip()
    # The frame sent the reference to the host page, which shows it in its own note.
    await expect(demo.locator("#sent-note")).to_contain_text(reference)

    row = queue.locator(f'[data-testid="queue-row"][data-reference="{reference}"]')
    await expect(row).to_be_visible()
    await expect(row.get_by_test_id("subject")).to_have_text(subject)
    await expect(queue.get_by_test_id("queue-empty")).to_have_count(0)
    assert await still_loaded(queue), "the queue page was reloaded instead of updated in place"
    assert await ticket_channel(server, reference) == "widget"


async def test_public_reply_reaches_status_page(servers: Servers, new_context: NewContext) -> None:
    server = await servers.opsdesk()
    agent = await make_staff(server, "agent")
    reply = "Our HVAC crew can come on Thursday between 10:00 and 12:00. Does that suit you?"
    note = "Customer sounded worried; bring a spare drain pump."

    customer = await (await new_context(server.url)).new_page()
    await customer.goto("/")
    await customer.get_by_role("link", name="Request Air conditioning repair").click()
    await expect(customer.get_by_label("Service")).to_have_value("hvac_repair")
    await customer.get_by_label("Email", exact=True).check()
    await customer.get_by_label("Your name").fill("Ngozi Okafor")
    await customer.get_by_label("E-mail", exact=True).fill("ngozi.okafor@example.com")
    await customer.get_by_label("Subject", exact=True).fill("Air conditioner drips water")
    await customer.get_by_label("Description", exact=True).fill(
        "The indoor unit in the living room drips water onto the floor."
    )
    await customer.get_by_test_id("submit-request").click()
    await expect(customer.get_by_role("heading", name="We have your request")).to_be_visible()
    reference = (await customer.get_by_test_id("reference").inner_text()).strip()
    status_link = await customer.get_by_test_id("status-link").input_value()
    assert status_link.startswith(f"{server.url}/status/"), status_link

    agent_page = await (await new_context(server.url)).new_page()
    await sign_in(agent_page, agent)
    await agent_page.get_by_role("link", name=reference).click()
    await expect(agent_page.get_by_test_id("ticket-subject")).to_have_text(
        "Air conditioner drips water"
    )
    await agent_page.get_by_label("Message").fill(reply)
    await agent_page.get_by_test_id("send-public").click()
    await expect(agent_page.get_by_test_id("notice")).to_have_text("Public reply sent.")
    await agent_page.get_by_label("Message").fill(note)
    await agent_page.get_by_test_id("add-note").click()
    await expect(agent_page.get_by_test_id("notice")).to_have_text("Internal note added.")

    await customer.goto(status_link)
    await expect(customer.get_by_role("heading", level=1)).to_have_text(f"Request {reference}")
    messages = customer.get_by_test_id("message")
    await expect(messages).to_have_count(2)
    await expect(messages.nth(1)).to_contain_text(reply)
    await expect(messages.nth(1)).to_contain_text("Brightline Technical Services")
    await expect(customer.get_by_test_id("conversation")).not_to_contain_text(note)
    await expect(customer.get_by_test_id("conversation")).not_to_contain_text(agent.email)
    await expect(customer.get_by_test_id("status")).to_have_text("Open")


async def test_breach_alert_arrives_and_is_acknowledged(
    servers: Servers, new_context: NewContext
) -> None:
    # Fast clocks: round the clock, first response due 2 seconds after the request.
    server = await servers.opsdesk(workspace_file=FAST_CLOCKS_WORKSPACE, run_worker=True)
    supervisor = await make_staff(server, "supervisor")

    dashboard = await (await new_context(server.url)).new_page()
    await sign_in(dashboard, supervisor)
    await expect(dashboard.get_by_test_id("alerts-empty")).to_be_visible()
    await mark_loaded(dashboard)

    async with httpx.AsyncClient(base_url=server.url, trust_env=False, timeout=10) as client:
        response = await client.post(
            "/api/v1/requests",
            json={
                "name": "Tunde Bakare",
                "email": "tunde.bakare@example.com",
                "service_type": "repair",
                "contact_method": "email",
                "priority": "normal",
                "subject": "Generator will not start",
                "description": "The generator at the Ikeja office cranks but will not start.",
            },
        )
    assert response.status_code == 201, response.text
    reference = response.json()["reference"]

    alert = dashboard.locator(
        f'[data-testid="alert"][data-reference="{reference}"][data-level="breach"]'
    )
    await expect(alert).to_be_visible()
    await expect(alert).to_contain_text("Generator will not start")
    await expect(alert).to_contain_text("First response")
    assert await still_loaded(dashboard), "the dashboard was reloaded instead of updated in place"

    await alert.get_by_test_id("acknowledge").click()
    await expect(alert).to_have_count(0)
    await expect(dashboard.get_by_test_id("alerts-empty")).to_be_visible()
    await expect(dashboard.get_by_test_id("alerts-count")).to_have_text("0 open alerts")

    await dashboard.reload()
    await expect(dashboard.get_by_test_id("alerts-empty")).to_be_visible()


async def test_technician_moves_task_on_phone(servers: Servers, new_context: NewContext) -> None:
    server = await servers.opsdesk()
    technician = await make_staff(server, "technician", teams=["solar_crew"])
    created = await create_ticket(
        server,
        service_type="solar_repair",
        contact_method="site_visit",
        subject="Panels produce half the usual power",
        site_address="14 Admiralty Way, Lekki Phase 1, Lagos",
    )
    task_reference = task_service.task_reference(created.tasks[0])
    await assign_task_to(server, task_reference, technician)

    phone = await (await new_context(server.url, **PHONE)).new_page()
    await sign_in(phone, technician)
    assert await phone.evaluate("() => window.innerWidth") == 375
    card = phone.locator(f'[data-testid="task-card"][data-task="{task_reference}"]')
    await expect(card.get_by_test_id("task-stage")).to_have_text("To do")
    await expect(card.get_by_test_id("maps-link")).to_have_text(
        "14 Admiralty Way, Lekki Phase 1, Lagos"
    )
    await no_horizontal_scroll(phone)

    await card.get_by_test_id("move-in_progress").tap()
    await expect(phone.get_by_test_id("notice")).to_have_text("Stage changed.")
    await expect(card.get_by_test_id("task-stage")).to_have_text("In progress")
    await expect(card).to_have_attribute("data-stage", "in_progress")
    await no_horizontal_scroll(phone)
