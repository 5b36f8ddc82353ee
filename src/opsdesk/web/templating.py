"""Jinja2 set-up for the pages: autoescaping, local-time filters and shared globals.

Every page extends `base.html`. Templates never mark user text as safe, so anything a
customer or agent typed is rendered as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


def _workspace_context(request: Request) -> dict[str, Any]:
    ctx = request.app.state.ctx
    return {
        "workspace_name": ctx.workspace.name,
        "timezone": ctx.workspace.calendar(ctx.workspace.spec.default_calendar).timezone.key,
    }


templates = Jinja2Templates(
    env=jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True),
    context_processors=[_workspace_context],
)


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page template; `context` is added to the workspace globals."""
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context, status_code=status, headers=headers
    )
    return response


def local_time(value: datetime | None, zone: str = "UTC", style: str = "short") -> str:
    """Format an instant in a time zone: ``Tue 10 Mar 14:00`` (short) or with the year."""
    if value is None:
        return "–"
    local = value.astimezone(ZoneInfo(zone))
    if style == "long":
        return local.strftime("%a %d %b %Y %H:%M %Z")
    return local.strftime("%a %d %b %H:%M")


def iso(value: datetime | None) -> str:
    """The instant as ISO 8601 in UTC, for `datetime` attributes and scripts."""
    return value.astimezone(UTC).isoformat() if value is not None else ""


def span(seconds: float | None) -> str:
    """A duration for people: ``2h 05m``, ``45m``, ``3d 4h``."""
    if seconds is None:
        return "–"
    sign = "-" if seconds < 0 else ""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{sign}{days}d {hours}h"
    if hours:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{minutes}m"


def label(key: str | None) -> str:
    """A snake_case key as words: ``waiting_on_customer`` becomes ``Waiting on customer``."""
    if not key:
        return ""
    text = key.replace("_", " ")
    return text[:1].upper() + text[1:]


templates.env.filters["local_time"] = local_time
templates.env.filters["iso"] = iso
templates.env.filters["span"] = span
templates.env.filters["label"] = label
