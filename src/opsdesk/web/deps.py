"""Route dependencies: the process's database and context, and the signed-in user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import update

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import Forbidden, Unauthorized
from opsdesk.users.models import ApiToken, Role, User
from opsdesk.users.service import authenticate_token

TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


DatabaseDep = Annotated[Database, Depends(get_db)]
ContextDep = Annotated[Context, Depends(get_ctx)]


async def current_user(request: Request, db: DatabaseDep, ctx: ContextDep) -> User:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("missing bearer token; send Authorization: Bearer <token>")
    async with db.read() as session:
        user, token = await authenticate_token(session, secret.strip())
    # The last-use time is written at most every few minutes, so most requests stay reads.
    now = ctx.clock.now()
    if token.last_used_at is None or token.last_used_at < now - TOKEN_TOUCH_INTERVAL:
        async with db.transaction() as session:
            await session.execute(
                update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
            )
    return user


def require_roles(*roles: Role) -> Callable[..., Awaitable[User]]:
    allowed = {role.value for role in roles}

    async def check(user: Annotated[User, Depends(current_user)]) -> User:
        if user.role not in allowed:
            raise Forbidden(
                f"role {user.role} may not do this; it needs one of {', '.join(sorted(allowed))}"
            )
        return user

    return check


STAFF = (Role.AGENT, Role.TECHNICIAN, Role.SUPERVISOR, Role.ADMIN)
Staff = Annotated[User, Depends(require_roles(*STAFF))]
Agent = Annotated[User, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
FieldStaff = Annotated[User, Depends(require_roles(*STAFF))]
Admin = Annotated[User, Depends(require_roles(Role.ADMIN))]
