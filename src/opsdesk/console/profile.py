"""The signed-in user's own page: their account, and marking themselves away and back.

The away form takes a local date and time, read in the user's time zone (from their
notification preferences) or else the time zone of the workspace's default calendar.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opsdesk.console import admin_accounts as accounts
from opsdesk.console.deps import AnyStaff, Staff
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import InvalidInput
from opsdesk.users import service as users
from opsdesk.users.models import User
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render

router = APIRouter(prefix="/console/profile", include_in_schema=False)

NOTICES = {
    "away": "You are marked away. Automatic assignment skips you until then.",
    "back": "Welcome back. Automatic assignment includes you again.",
    "unchanged": "Nothing changed.",
}


def zone_of(ctx: Context, user: User) -> str:
    """Return the IANA time zone the page shows and reads times in."""
    if user.timezone:
        return user.timezone
    return ctx.workspace.calendar(ctx.workspace.spec.default_calendar).timezone.key


def parse_local(value: str, zone: str) -> datetime:
    """Read a form's ``YYYY-MM-DDTHH:MM`` as an instant in `zone`, or raise InvalidInput.

    A value with its own offset keeps it. A local time that a daylight saving change skips
    or repeats is read with the offset in force before the change.
    """
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InvalidInput(
            f"{value!r} is not a date and time; pick one, such as 2026-03-16 08:00",
            details=[{"field": "until", "message": "must be a date and time"}],
        ) from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo(zone))
    return parsed


async def _render(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        user = await accounts.access_user(session, staff.user.id)
        teams = (await accounts.teams_of(session, [user.id]))[user.id]
    now = ctx.clock.now()
    saved = request.query_params.get("saved", "") if status == 200 else ""
    return render(
        request,
        "console/profile.html",
        {
            "staff": staff,
            "nav": "profile",
            "user": user,
            "teams": teams,
            "team_names": {team.key: team.name for team in ctx.workspace.spec.teams},
            "away": user.away_until is not None and user.away_until > now,
            "zone": zone_of(ctx, user),
            "errors": errors or {},
            "form": form or {},
            "notice": NOTICES.get(saved),
            "now": now,
        },
        status=status,
    )


@router.get("", response_class=HTMLResponse)
async def profile_page(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: AnyStaff
) -> Response:
    return await _render(request, db, ctx, staff)


@router.post("/away")
async def mark_away(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AnyStaff,
    until: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Mark the signed-in user away until the local date and time in `until`."""
    form = {"until": until}
    if not until.strip():
        errors = {"until": "choose the date and time you are back"}
        return await _render(request, db, ctx, staff, errors=errors, form=form, status=422)
    try:
        async with db.transaction() as session:
            user = await accounts.access_user(session, staff.user.id, lock=True)
            instant = parse_local(until, zone_of(ctx, user))
            changed = users.set_away(user, until=instant, by=staff.user, now=ctx.clock.now())
    except InvalidInput as exc:
        errors = {"until": exc.message}
        return await _render(request, db, ctx, staff, errors=errors, form=form, status=422)
    return RedirectResponse(
        f"/console/profile?saved={'away' if changed else 'unchanged'}", status_code=303
    )


@router.post("/back")
async def mark_back(db: DatabaseDep, ctx: ContextDep, staff: AnyStaff) -> Response:
    """Make the signed-in user available for automatic assignment again."""
    async with db.transaction() as session:
        user = await accounts.access_user(session, staff.user.id, lock=True)
        changed = users.set_away(user, until=None, by=staff.user, now=ctx.clock.now())
    return RedirectResponse(
        f"/console/profile?saved={'back' if changed else 'unchanged'}", status_code=303
    )
