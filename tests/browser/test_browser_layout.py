"""Layout defects seen in the screenshots, pinned by tests that fail until they are fixed."""

from __future__ import annotations

import pytest
from browser_support import (
    NewContext,
    Servers,
    assign_task_to,
    create_ticket,
    make_staff,
    sign_in,
)
from playwright.async_api import expect

from opsdesk.tasks import service as task_service

pytestmark = pytest.mark.asyncio(loop_scope="session")

DESKTOP = {"viewport": {"width": 1280, "height": 800}}


async def test_backlog_chart_ticks_match_scale(servers: Servers, new_context: NewContext) -> None:
    server = await servers.opsdesk()
    supervisor = await make_staff(server, "supervisor")
    # Three open solar tickets: the backlog axis runs to the next round maximum, 5.
    for subject in ("Inverter alarm", "Battery bank swollen", "Panel cracked by hail"):
        await create_ticket(server, service_type="solar_repair", subject=subject)

    page = await (await new_context(server.url, **DESKTOP)).new_page()
    await sign_in(page, supervisor)
    chart = page.get_by_test_id("chart-backlog")
    await expect(chart).to_be_visible()
    ticks = await chart.locator("text.chart-tick").evaluate_all(
        "ticks => ticks.map(tick => [Number(tick.textContent), Number(tick.getAttribute('x'))])"
    )
    assert len(ticks) >= 3, ticks
    (zero_label, zero_x), (first_label, first_x) = ticks[0], ticks[1]
    assert zero_label == 0, ticks
    unit = (first_x - zero_x) / first_label
    misplaced = [(label, x) for label, x in ticks if abs(zero_x + label * unit - x) > 0.5]
    assert misplaced == [], f"tick labels off their scale of {unit:.1f} per ticket: {ticks}"


async def test_board_cards_hold_assignee_email(servers: Servers, new_context: NewContext) -> None:
    server = await servers.opsdesk()
    supervisor = await make_staff(server, "supervisor")
    technician = await make_staff(
        server,
        "technician",
        name="Musa Ibrahim",
        email="musa.ibrahim@brightline.example",
        teams=["solar_crew"],
    )
    created = await create_ticket(server, service_type="solar_repair")
    task_reference = task_service.task_reference(created.tasks[0])
    await assign_task_to(server, task_reference, technician)

    page = await (await new_context(server.url, **DESKTOP)).new_page()
    await sign_in(page, supervisor)
    await page.goto("/console/boards/solar")
    card = page.locator(f'[data-testid="task-card"][data-reference="{task_reference}"]')
    await expect(card.locator(".card-assignee")).to_have_text(technician.email)
    widths = await card.evaluate("card => [card.scrollWidth, card.clientWidth]")
    assert widths[0] <= widths[1], f"the card's content is {widths[0]} px wide in {widths[1]} px"
