"""Screenshots of the main pages with sample data from Lagos, for the README.

Every run opens the pages, checks what the pictures are meant to show, and checks that
the pages also fit a phone's width. The PNG files are written to docs/screenshots/ only
with OPSDESK_WRITE_SCREENSHOTS=1, and only from the SQLite run, so ordinary test runs
leave the work tree as it is:

    OPSDESK_WRITE_SCREENSHOTS=1 .venv/bin/pytest tests/browser/test_browser_screenshots.py
"""

from __future__ import annotations

import os

import pytest
from browser_support import (
    ROOT,
    Account,
    NewContext,
    Servers,
    fill_request_form,
    no_horizontal_scroll,
    send_request_form,
    sign_in,
)
from lagos_samples import CUSTOMERS, NOW, seed_lagos
from playwright.async_api import Page, expect

from opsdesk.clock import FrozenClock

pytestmark = pytest.mark.asyncio(loop_scope="session")

SCREENSHOTS = ROOT / "docs" / "screenshots"
PUBLIC_URL = "https://desk.brightline.example"
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "is_mobile": True,
    "has_touch": True,
    "device_scale_factor": 2,
}


class Camera:
    """Takes the screenshots, and keeps them only when asked to."""

    def __init__(self, write: bool) -> None:
        self.write = write
        self.taken: list[str] = []

    async def shoot(self, page: Page, name: str, *, full_page: bool = True) -> None:
        picture = await page.screenshot(
            full_page=full_page, animations="disabled", caret="hide", scale="device"
        )
        assert picture.startswith(b"\x89PNG"), name
        self.taken.append(name)
        if self.write:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            (SCREENSHOTS / f"{name}.png").write_bytes(picture)


async def signed_in(new_context: NewContext, url: str, account: Account, **options: object) -> Page:
    page = await (await new_context(url, **(options or DESKTOP))).new_page()
    await sign_in(page, account)
    return page


async def test_screenshots_of_main_pages(
    servers: Servers, new_context: NewContext, database_url: str
) -> None:
    write = os.environ.get("OPSDESK_WRITE_SCREENSHOTS") == "1" and database_url.startswith("sqlite")
    camera = Camera(write)
    demo_origin = servers.reserve_origin()
    # Status links in the pictures show a public address instead of a test port. Chromium
    # counts 127.0.0.1 as a secure origin, so the Secure cookies of an https address work.
    server = await servers.opsdesk(
        allowed_origins=[demo_origin], clock=FrozenClock(NOW), base_url=PUBLIC_URL
    )
    site = servers.widget_demo(server)
    samples = await seed_lagos(server)

    # The customer's side: services, the form, the confirmation, a status page.
    customer = await (await new_context(server.url, **DESKTOP)).new_page()
    await customer.goto("/")
    await expect(customer.get_by_test_id("service-list").get_by_role("listitem")).to_have_count(
        len(server.ctx.workspace.spec.service_types)
    )
    await camera.shoot(customer, "portal-home")

    await customer.get_by_role("link", name="Request Solar repair").click()
    await fill_request_form(
        customer,
        name="Kelechi Obi",
        email="kelechi.obi@example.com",
        subject="Batteries do not charge fully",
        description="The charge stops at 70% even on sunny days. The inverter is a 5 kVA "
        "hybrid model, installed two years ago.",
        contact="Phone call",
        phone="+234 810 555 0199",
        priority="High",
    )
    await camera.shoot(customer, "request-form")
    await send_request_form(customer)
    await camera.shoot(customer, "request-sent")

    await customer.goto(f"/status/{samples.status_tokens['emeka']}")
    await expect(customer.get_by_test_id("status")).to_have_text("Waiting on customer")
    await expect(customer.get_by_test_id("message")).to_have_count(2)
    await camera.shoot(customer, "status-page")

    demo = await (await new_context(site.url, **DESKTOP)).new_page()
    await demo.goto("/")
    await demo.get_by_test_id("opsdesk-widget-button").click()
    frame = demo.frame_locator('[data-testid="opsdesk-widget-frame"]')
    await expect(frame.get_by_label("Your name")).to_be_visible()
    await frame.get_by_label("Your name").fill(CUSTOMERS["ngozi"].name)
    await camera.shoot(demo, "widget-demo", full_page=False)

    # The agent's queue contains tickets in every state, and one ticket page.
    agent = await signed_in(new_context, server.url, samples.staff["agent"])
    rows = agent.get_by_test_id("queue-row")
    await expect(rows.first).to_be_visible()
    states = set(await rows.evaluate_all("rows => rows.map(row => row.dataset.state)"))
    assert {"breached", "at_risk", "on_track", "paused"} <= states, states
    await camera.shoot(agent, "agent-queue")

    await agent.goto(f"/console/tickets/{samples.references['chiamaka']}")
    await expect(agent.get_by_test_id("ticket-priority")).to_have_text("Urgent")
    await camera.shoot(agent, "ticket-page")

    technician = await signed_in(new_context, server.url, samples.staff["technician"], **PHONE)
    assigned = technician.get_by_test_id("assigned-tasks").get_by_test_id("task-card")
    await expect(assigned).to_have_count(3)
    await no_horizontal_scroll(technician)
    await camera.shoot(technician, "technician-my-tasks", full_page=False)

    supervisor = await signed_in(new_context, server.url, samples.staff["supervisor"])
    await expect(supervisor.get_by_test_id("alert").first).to_be_visible()
    for chart in ("chart-compliance", "chart-backlog", "chart-breach-hours"):
        await expect(supervisor.get_by_test_id(chart)).to_be_visible()
    await camera.shoot(supervisor, "supervisor-dashboard")

    await supervisor.goto("/console/boards/solar")
    await expect(supervisor.get_by_test_id("task-card").first).to_be_visible()
    await camera.shoot(supervisor, "board")

    admin = await signed_in(new_context, server.url, samples.staff["admin"])
    await admin.goto("/console/admin/users")
    await expect(admin.get_by_test_id("user-row")).to_have_count(len(samples.staff))
    await camera.shoot(admin, "admin-users")

    # The same pages fit a phone's width, without sideways scrolling.
    phone = await signed_in(new_context, server.url, samples.staff["admin"], **PHONE)
    for path in (
        "/",
        "/request",
        f"/status/{samples.status_tokens['emeka']}",
        "/console/queue",
        f"/console/tickets/{samples.references['chiamaka']}",
        "/console/my-tasks",
        "/console/dashboard",
        "/console/boards",
        "/console/boards/solar",
        "/console/admin/users",
    ):
        await phone.goto(path)
        await no_horizontal_scroll(phone)

    assert len(camera.taken) == 11, camera.taken
    if write:
        written = sorted(path.stem for path in SCREENSHOTS.glob("*.png"))
        assert sorted(camera.taken) == written, written
