"""Who may open which page: every role against every console page and status link.

Each visitor opens each page in Chromium. The outcome is read from what the browser ends
on: the page itself (its heading), the 403 page, the sign-in form (after a redirect that
keeps the requested page in `next`), or the 404 page.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest
from browser_support import (
    LiveServer,
    NewContext,
    Servers,
    create_ticket,
    heading_of,
    make_staff,
    sign_in,
)
from playwright.async_api import Page

from opsdesk.tickets.service import reference_of

pytestmark = pytest.mark.asyncio(loop_scope="session")

PAGE = "page"
FORBIDDEN = "forbidden"
SIGN_IN = "sign in"
NOT_FOUND = "not found"

VISITORS = ("anonymous", "customer", "agent", "technician", "supervisor", "admin")

# Each row: the page, its heading when it loads, and the outcome for each visitor in the
# order of VISITORS. {own} and {other} are two requests' status tokens, {ref} and
# {other_ref} their references; the customer holds the link of {own} only.
S, F, P, N = SIGN_IN, FORBIDDEN, PAGE, NOT_FOUND
MATRIX = (
    ("/console/queue", "Queue", (S, S, P, F, P, P)),
    ("/console/tickets/{ref}", "{ref} Roof panels are dirty", (S, S, P, P, P, P)),
    ("/console/tickets/SR-999999", "", (S, S, N, N, N, N)),
    ("/console/my-tasks", "My tasks", (S, S, F, P, P, P)),
    ("/console/dashboard", "Dashboard", (S, S, F, F, P, P)),
    ("/console/boards", "Boards", (S, S, F, F, P, P)),
    ("/console/admin", "Admin", (S, S, F, F, F, P)),
    ("/console/admin/users", "Users", (S, S, F, F, F, P)),
    ("/status/{own}", "Request {ref}", (P, P, P, P, P, P)),
    # The status link is the only key, so anyone with another request's link sees it.
    ("/status/{other}", "Request {other_ref}", (P, P, P, P, P, P)),
    # Guessing: another request's reference, or the own token with one character changed.
    ("/status/{other_ref}", "", (N, N, N, N, N, N)),
    ("/status/{tampered}", "", (N, N, N, N, N, N)),
)
HEADINGS = {FORBIDDEN: "Not allowed", SIGN_IN: "Sign in", NOT_FOUND: "Not found"}
STATUS_CODES = {PAGE: 200, FORBIDDEN: 403, SIGN_IN: 200, NOT_FOUND: 404}


@dataclass(frozen=True)
class Seen:
    status: int
    path: str
    next_path: str | None
    heading: str


async def visit(page: Page, path: str) -> Seen:
    response = await page.goto(path, wait_until="domcontentloaded")
    assert response is not None, path
    url = urlsplit(page.url)
    next_values = parse_qs(url.query).get("next")
    return Seen(
        status=response.status,
        path=url.path,
        next_path=next_values[0] if next_values else None,
        heading=await heading_of(page),
    )


def mismatch(expected: str, heading: str, path: str, seen: Seen) -> str | None:
    """Describe how `seen` differs from the expected outcome, or return None."""
    want_status = STATUS_CODES[expected]
    want_heading = heading if expected == PAGE else HEADINGS[expected]
    if expected == SIGN_IN and (seen.path != "/console/login" or seen.next_path != path):
        return f"expected the sign-in form with next={path}, got {seen}"
    if expected != SIGN_IN and seen.path != urlsplit(path).path:
        return f"expected to stay on {path}, got {seen}"
    if seen.status != want_status:
        return f"expected status {want_status}, got {seen}"
    if seen.heading != want_heading:
        return f"expected heading {want_heading!r}, got {seen}"
    return None


async def open_as(visitor: str, server: LiveServer, new_context: NewContext, own: str) -> Page:
    page = await (await new_context(server.url)).new_page()
    if visitor == "customer":
        await page.goto(f"/status/{own}")
    elif visitor != "anonymous":
        await sign_in(page, await make_staff(server, visitor))
    return page


async def check_visitor(
    visitor: str, column: int, server: LiveServer, new_context: NewContext, values: dict[str, str]
) -> list[str]:
    """Open every page of MATRIX as `visitor` and describe each unexpected outcome."""
    page = await open_as(visitor, server, new_context, values["own"])
    problems: list[str] = []
    for template, heading_template, outcomes in MATRIX:
        path = template.format(**values)
        heading = heading_template.format(**values)
        seen = await visit(page, path)
        problem = mismatch(outcomes[column], heading, path, seen)
        if problem is not None:
            problems.append(f"{visitor} {template}: {problem}")
        if template == "/status/{own}" and seen.status == 200:
            # The own status page names nothing of the other request.
            body = await page.locator("main").inner_text()
            if values["other_ref"] in body or "Gate motor" in body:
                problems.append(f"{visitor} {template}: shows the other request")
    return problems


async def test_route_role_matrix(servers: Servers, new_context: NewContext) -> None:
    server = await servers.opsdesk()
    own = await create_ticket(server, subject="Roof panels are dirty")
    other = await create_ticket(server, subject="Gate motor hums but the gate stays shut")
    own_ref = reference_of(server.ctx, own.ticket)
    other_ref = reference_of(server.ctx, other.ticket)
    # Change one character in the middle, where every character of the alphabet may stand.
    middle = len(own.status_token) // 2
    swapped = "A" if own.status_token[middle] != "A" else "B"
    values = {
        "own": own.status_token,
        "other": other.status_token,
        "ref": own_ref,
        "other_ref": other_ref,
        "tampered": own.status_token[:middle] + swapped + own.status_token[middle + 1 :],
    }

    # Visitors browse side by side, each in a browser context of their own.
    found = await asyncio.gather(
        *(
            check_visitor(visitor, column, server, new_context, values)
            for column, visitor in enumerate(VISITORS)
        )
    )
    problems = [problem for visitor_problems in found for problem in visitor_problems]
    assert problems == [], "\n".join(problems)
