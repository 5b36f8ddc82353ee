"""HTTP routes that mark staff away, so automatic assignment skips them until a given instant.

Everyone may mark themselves away and back; supervisors and admins may do it for anyone.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import Forbidden
from opsdesk.users import service as users
from opsdesk.users.models import Role, User
from opsdesk.web.deps import ContextDep, DatabaseDep, Staff
from opsdesk.web.responses import JSON_BODY_ERRORS, STAFF_ERRORS, error_responses

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=error_responses(*STAFF_ERRORS))

MANAGER_ROLES = frozenset({Role.SUPERVISOR.value, Role.ADMIN.value})


class AwayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    until: datetime = Field(
        description="The instant the user is back, with a time zone offset; must be in the future.",
        examples=["2026-03-16T08:00:00+01:00"],
    )


class AwayView(BaseModel):
    email: str
    away_until: datetime | None = Field(
        description="Automatic assignment skips the user until then; null when available."
    )


def _view(user: User) -> AwayView:
    return AwayView(email=user.email, away_until=user.away_until)


def _check_may_change(actor: User, email: str) -> None:
    if actor.role in MANAGER_ROLES or actor.email == email.strip().lower():
        return
    raise Forbidden(
        f"a user with role {actor.role} may mark only their own account away, through "
        "/api/v1/users/me/away; ask a supervisor or admin to mark others"
    )


async def _set(
    db: Database, ctx: Context, *, email: str, until: datetime | None, by: User
) -> AwayView:
    async with db.transaction() as session:
        user = await users.access_user_by_email(session, email, lock=True)
        users.set_away(user, until=until, by=by, now=ctx.clock.now())
        return _view(user)


@router.put("/me/away", response_model=AwayView, responses=error_responses(*JSON_BODY_ERRORS))
async def mark_me_away(
    body: AwayRequest, db: DatabaseDep, ctx: ContextDep, user: Staff
) -> AwayView:
    """Mark the signed-in user away until `until`; a later call replaces the instant."""
    return await _set(db, ctx, email=user.email, until=body.until, by=user)


@router.delete("/me/away", status_code=204)
async def clear_my_away(db: DatabaseDep, ctx: ContextDep, user: Staff) -> Response:
    """Make the signed-in user available for automatic assignment again."""
    await _set(db, ctx, email=user.email, until=None, by=user)
    return Response(status_code=204)


@router.put(
    "/{email}/away",
    response_model=AwayView,
    responses=error_responses(*JSON_BODY_ERRORS, 404),
)
async def mark_user_away(
    email: str, body: AwayRequest, db: DatabaseDep, ctx: ContextDep, user: Staff
) -> AwayView:
    """Mark the user with this e-mail address away until `until` (supervisors and admins)."""
    _check_may_change(user, email)
    return await _set(db, ctx, email=email, until=body.until, by=user)


@router.delete("/{email}/away", status_code=204, responses=error_responses(404))
async def clear_user_away(email: str, db: DatabaseDep, ctx: ContextDep, user: Staff) -> Response:
    """Make the user with this e-mail address available again (supervisors and admins)."""
    _check_may_change(user, email)
    await _set(db, ctx, email=email, until=None, by=user)
    return Response(status_code=204)
