"""Sessions, role checks and CSRF protection for console pages."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from opsdesk.errors import Forbidden, SignInRequired
from opsdesk.users import auth
from opsdesk.users.models import Role, User
from opsdesk.web.deps import ContextDep, DatabaseDep

SESSION_COOKIE = "opsdesk_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

HOME_BY_ROLE = {
    Role.AGENT.value: "/console/queue",
    Role.TECHNICIAN.value: "/console/my-tasks",
    Role.SUPERVISOR.value: "/console/dashboard",
    Role.ADMIN.value: "/console/admin",
}


@dataclass(frozen=True)
class Staff:
    user: User
    session_id: str
    csrf_token: str

    @property
    def role(self) -> str:
        return self.user.role

    @property
    def home(self) -> str:
        return HOME_BY_ROLE[self.user.role]


async def current_staff(request: Request, db: DatabaseDep, ctx: ContextDep) -> Staff:
    """Return the signed-in user of this request, or raise SignInRequired."""
    token = request.cookies.get(SESSION_COOKIE)
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequired(next_path)
    now = ctx.clock.now()
    async with db.read() as session:
        found = await auth.session_user(session, token=token, settings=ctx.settings, at=now)
    if found is None:
        raise SignInRequired(next_path)
    user, web_session = found
    if auth.needs_touch(web_session, now):
        async with db.transaction() as session:
            await auth.touch(session, session_id=web_session.id, at=now)
    staff = Staff(user=user, session_id=web_session.id, csrf_token=web_session.csrf_token)
    if request.method in UNSAFE_METHODS:
        await check_csrf(request, staff)
    return staff


async def check_csrf(request: Request, staff: Staff) -> None:
    """Raise Forbidden unless the request carries the session's CSRF token.

    Forms send it as a hidden field and scripts as the X-CSRF-Token header.
    """
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(sent, staff.csrf_token):
        raise Forbidden("the form is missing its security token or it expired; reload the page")


def require_roles(*roles: Role) -> Callable[..., Awaitable[Staff]]:
    allowed = {role.value for role in roles}

    async def check(staff: Annotated[Staff, Depends(current_staff)]) -> Staff:
        if staff.role not in allowed:
            raise Forbidden(
                f"this page is for {', '.join(sorted(allowed))}; you are signed in as {staff.role}"
            )
        return staff

    return check


AnyStaff = Annotated[Staff, Depends(current_staff)]
AgentStaff = Annotated[Staff, Depends(require_roles(Role.AGENT, Role.SUPERVISOR, Role.ADMIN))]
TechnicianStaff = Annotated[
    Staff, Depends(require_roles(Role.TECHNICIAN, Role.SUPERVISOR, Role.ADMIN))
]
SupervisorStaff = Annotated[Staff, Depends(require_roles(Role.SUPERVISOR, Role.ADMIN))]
AdminStaff = Annotated[Staff, Depends(require_roles(Role.ADMIN))]
