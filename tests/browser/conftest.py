"""Fixtures of the browser tests: Chromium, live Opsdesk servers and the widget demo site.

Every test gets a fresh database: a copy of the migrated SQLite template, or the session's
PostgreSQL database emptied with `truncate_all`. It starts the servers it needs with the
`servers` fixture, and they listen on 127.0.0.1 and stop when the test ends. One Chromium runs
for the whole session, and each test opens its own browser contexts (separate cookies).
These fixtures share the session's event loop with the browser, so browser test modules
mark their tests with `pytest.mark.asyncio(loop_scope="session")`.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from browser_support import NewContext, PageWatch, Servers
from playwright.async_api import Browser, BrowserContext, async_playwright, expect

from opsdesk.db import Database

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
EXPECT_TIMEOUT_MS = 10_000
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 15_000
ROOT_CONFTEST = Path(__file__).resolve().parent.parent / "conftest.py"

expect.set_options(timeout=EXPECT_TIMEOUT_MS)


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Return Debian's Chromium, because Playwright's own browser download fails here."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"Chromium not found at {CHROMIUM}. Install it with `make browser`."
    if os.environ.get("OPSDESK_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


def _truncate_all(config: pytest.Config) -> Callable[[Database], Awaitable[None]]:
    """Return `truncate_all` of the suite's top conftest, which pytest loaded as a plugin."""
    plugin = config.pluginmanager.get_plugin(str(ROOT_CONFTEST))
    truncate: Callable[[Database], Awaitable[None]] | None = getattr(plugin, "truncate_all", None)
    assert truncate is not None, f"truncate_all not found in {ROOT_CONFTEST}"
    return truncate


@pytest_asyncio.fixture(loop_scope="session")
async def servers(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> AsyncIterator[Servers]:
    started = Servers(database_url, tmp_path)
    await _truncate_all(request.config)(started.db)
    try:
        yield started
    finally:
        await started.stop()


@pytest.fixture
def watch() -> PageWatch:
    return PageWatch()


@pytest_asyncio.fixture(loop_scope="session")
async def new_context(
    browser: Browser, servers: Servers, watch: PageWatch
) -> AsyncIterator[NewContext]:
    """Open browser contexts (own cookies) whose pages report dialogs and errors to `watch`.

    After the test, no page may have shown a dialog, thrown a script error, reported a
    content security policy violation or received a 5xx response.
    """
    contexts: list[BrowserContext] = []

    async def open_context(base_url: str, **options: Any) -> BrowserContext:
        context = await browser.new_context(
            base_url=base_url, locale="en-GB", timezone_id="Africa/Lagos", **options
        )
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        context.on("page", watch.attach)
        contexts.append(context)
        return context

    yield open_context
    for context in contexts:
        await context.close()
    assert not watch.problems(), "\n".join(watch.problems())
