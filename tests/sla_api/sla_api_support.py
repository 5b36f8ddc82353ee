"""Helpers of the SLA API tests: variants of the example workspace, clients and clock lookups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.web.app import create_app
from opsdesk.workspace import Workspace, load_workspace
from support import EXAMPLE_WORKSPACE


def write_workspace_variant(folder: Path, edits: list[tuple[str, str]], name: str) -> Path:
    """Write a copy of the example workspace with each (old, new) text replaced once.

    Every `old` text must occur exactly once in the example, so an edit cannot silently
    change a second pipeline or policy that happens to share a line.
    """
    text = EXAMPLE_WORKSPACE.read_text(encoding="utf-8")
    for old, new in edits:
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the example"
        text = text.replace(old, new)
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def load_workspace_variant(folder: Path, edits: list[tuple[str, str]], name: str) -> Workspace:
    return load_workspace(write_workspace_variant(folder, edits, name))


def context_with(ctx: Context, workspace: Workspace) -> Context:
    """Return `ctx` with another workspace and the same clock and settings."""
    return Context(workspace=workspace, clock=ctx.clock, settings=ctx.settings)


@asynccontextmanager
async def client_for(db: Database, ctx: Context) -> AsyncIterator[httpx.AsyncClient]:
    """Serve the app for `ctx` in this process and return a client wired to it."""
    app = create_app(settings=ctx.settings, workspace=ctx.workspace, database=db, clock=ctx.clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def get_sla(
    client: httpx.AsyncClient, headers: dict[str, str], reference: str
) -> dict[str, Any]:
    """GET the ticket's SLA view and return its body after checking for 200."""
    response = await client.get(f"/api/v1/tickets/{reference}/sla", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def sla_clock(
    sla: dict[str, Any], metric: str, *, task: str | None = None, cycle: int = 0
) -> dict[str, Any]:
    """Return the one clock of the SLA view with this metric, task and cycle."""
    matches: list[dict[str, Any]] = [
        clock
        for clock in sla["clocks"]
        if clock["metric"] == metric and clock["task"] == task and clock["cycle"] == cycle
    ]
    assert len(matches) == 1, [(c["metric"], c["task"], c["cycle"]) for c in sla["clocks"]]
    return matches[0]


def clock_kinds(clock: dict[str, Any]) -> list[str]:
    return [entry["kind"] for entry in clock["timeline"]]


def clock_entry(clock: dict[str, Any], kind: str) -> dict[str, Any]:
    """Return the clock's one timeline entry of `kind`."""
    matches: list[dict[str, Any]] = [entry for entry in clock["timeline"] if entry["kind"] == kind]
    assert len(matches) == 1, clock_kinds(clock)
    return matches[0]


def status_token(intake: dict[str, Any]) -> str:
    """Return the token at the end of an intake response's status link."""
    url: str = intake["status_url"]
    return url.rsplit("/", 1)[1]
