"""Route dependencies: the process's database and context, and the signed-in user."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import update

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import Forbidden, Unauthorized
from opsdesk.users.models import ApiToken, Role, User
from opsdesk.users.service import authenticate_token

TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)

# Declares the scheme in the OpenAPI document. A missing or malformed header yields None,
# so `current_user` raises the API's own 401 body.
BEARER = HTTPBearer(
    auto_error=False,
    description="An API token from `opsdesk users create --token` or the admin console.",
)


# Both are coroutines although they never wait, because FastAPI runs a plain function
# dependency in a worker thread. In a profile of intake that hand-off took about 4% of
# the server's CPU time.
async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


DatabaseDep = Annotated[Database, Depends(get_db)]
ContextDep = Annotated[Context, Depends(get_ctx)]


async def current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    db: DatabaseDep,
    ctx: ContextDep,
) -> User:
    secret = credentials.credentials.strip() if credentials is not None else ""
    if not secret:
        raise Unauthorized("missing bearer token; send Authorization: Bearer <token>")
    async with db.read() as session:
        user, token = await authenticate_token(session, secret)
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
