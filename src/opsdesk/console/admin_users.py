"""Admin pages for staff accounts and API tokens."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from opsdesk.console import admin_accounts as accounts
from opsdesk.console.deps import AdminStaff, Staff
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import Conflict, InvalidInput, OpsdeskError
from opsdesk.users import auth
from opsdesk.users import service as users
from opsdesk.users.models import ApiToken, Role, User
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render

router = APIRouter(prefix="/console/admin", include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
ROLE_HELP = {
    Role.AGENT.value: "answers tickets in the queue",
    Role.TECHNICIAN.value: "works on tasks in the field",
    Role.SUPERVISOR.value: "dashboard, boards and reports, and what agents do",
    Role.ADMIN.value: "everything, including accounts, tokens and webhooks",
}
USER_NOTICES = {
    "created": "Account created. The user can sign in with the initial password now.",
    "role": "Role changed.",
    "teams": "Teams saved.",
    "deactivated": "Account deactivated and its sessions ended.",
    "reactivated": "Account reactivated.",
    "password": "Password reset. The user's sessions have ended.",
    "unchanged": "Nothing changed.",
}

TextField = Annotated[str, Form(max_length=1000)]
ListField = Annotated[list[str] | None, Form()]


def field_errors(exc: OpsdeskError, *, default_field: str = "form") -> dict[str, str]:
    """Map an error to form fields: by its details, else all of it to `default_field`.

    An error about one field keeps its full message, which gives more detail than its details entry.
    """
    fields = [str(item["field"]) for item in exc.details if "field" in item]
    if not fields:
        return {default_field: exc.message}
    if len(set(fields)) == 1:
        return {fields[0]: exc.message}
    return {str(item["field"]): str(item["message"]) for item in exc.details if "field" in item}


def _team_choices(ctx: Context) -> list[tuple[str, str]]:
    return [(team.key, team.name) for team in ctx.workspace.spec.teams]


# Users


async def _render_users(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    *,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        rows = list((await session.execute(select(User).order_by(User.email))).scalars())
        teams = await accounts.teams_of(session, [user.id for user in rows])
    return render(
        request,
        "console/admin/users.html",
        {
            "staff": staff,
            "nav": "admin",
            "users": rows,
            "teams": teams,
            "team_choices": _team_choices(ctx),
            "team_names": dict(_team_choices(ctx)),
            "roles": ROLE_HELP,
            "errors": errors or {},
            "form": form or {"role": Role.AGENT.value, "teams": []},
            "now": ctx.clock.now(),
        },
        status=status,
    )


@router.get("/users", response_class=HTMLResponse)
async def list_users(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    return await _render_users(request, db, ctx, staff)


@router.post("/users")
async def create_user(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
    email: Annotated[str, Form(max_length=320)],
    password: TextField,
    role: Annotated[str, Form(max_length=20)],
    name: Annotated[str, Form(max_length=200)] = "",
    teams: ListField = None,
) -> Response:
    """Create an account with an initial password that the user signs in with."""
    chosen_teams = teams or []
    form = {"email": email, "name": name, "role": role, "teams": chosen_teams}
    try:
        async with db.transaction() as session:
            user = await users.create_user(
                session,
                email=email,
                name=name.strip(),
                role=role,
                teams=chosen_teams,
                known_teams=[key for key, _ in _team_choices(ctx)],
                at=ctx.clock.now(),
            )
            await auth.set_password(session, user=user, password=password)
            user_id = user.id
    except Conflict as exc:
        return await _render_users(
            request, db, ctx, staff, errors={"email": exc.message}, form=form, status=409
        )
    except InvalidInput as exc:
        return await _render_users(
            request, db, ctx, staff, errors=field_errors(exc), form=form, status=422
        )
    return RedirectResponse(f"/console/admin/users/{user_id}?saved=created", status_code=303)


async def _render_user(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    user_id: int,
    *,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        user = await accounts.access_user(session, user_id)
        teams = (await accounts.teams_of(session, [user.id]))[user.id]
        tokens = list(
            (
                await session.execute(
                    select(ApiToken)
                    .where(ApiToken.user_id == user.id)
                    .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
                )
            ).scalars()
        )
    saved = request.query_params.get("saved", "")
    return render(
        request,
        "console/admin/user.html",
        {
            "staff": staff,
            "nav": "admin",
            "user": user,
            "teams": teams,
            "tokens": tokens,
            "team_choices": _team_choices(ctx),
            "roles": ROLE_HELP,
            "errors": errors or {},
            "notice": USER_NOTICES.get(saved) if status == 200 else None,
            "is_self": user.id == staff.user.id,
            "now": ctx.clock.now(),
        },
        status=status,
    )


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def show_user(
    request: Request, user_id: int, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    return await _render_user(request, db, ctx, staff, user_id)


def _saved(user_id: int, changed: bool, notice: str) -> Response:
    return RedirectResponse(
        f"/console/admin/users/{user_id}?saved={notice if changed else 'unchanged'}",
        status_code=303,
    )


@router.post("/users/{user_id}/role")
async def change_role(
    request: Request,
    user_id: int,
    role: Annotated[str, Form(max_length=20)],
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
) -> Response:
    try:
        async with db.transaction() as session:
            changed = await accounts.change_role(session, user_id=user_id, role=role, by=staff.user)
    except (InvalidInput, Conflict) as exc:
        return await _render_user(
            request,
            db,
            ctx,
            staff,
            user_id,
            errors=field_errors(exc, default_field="role"),
            status=exc.status_code,
        )
    return _saved(user_id, changed, "role")


@router.post("/users/{user_id}/teams")
async def change_teams(
    request: Request,
    user_id: int,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
    teams: ListField = None,
) -> Response:
    try:
        async with db.transaction() as session:
            user = await accounts.access_user(session, user_id, lock=True)
            changed = await accounts.set_teams(
                session,
                user=user,
                teams=teams or [],
                known_teams=[key for key, _ in _team_choices(ctx)],
                by=staff.user,
            )
    except InvalidInput as exc:
        return await _render_user(
            request,
            db,
            ctx,
            staff,
            user_id,
            errors=field_errors(exc, default_field="teams"),
            status=exc.status_code,
        )
    return _saved(user_id, changed, "teams")


@router.post("/users/{user_id}/active")
async def change_active(
    request: Request,
    user_id: int,
    active: Annotated[str, Form(pattern="^[01]$")],
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
) -> Response:
    """Deactivate (active=0) or reactivate (active=1) the account."""
    wanted = active == "1"
    try:
        async with db.transaction() as session:
            changed = await accounts.set_active(
                session, user_id=user_id, active=wanted, by=staff.user
            )
    except (InvalidInput, Conflict) as exc:
        return await _render_user(
            request,
            db,
            ctx,
            staff,
            user_id,
            errors=field_errors(exc, default_field="active"),
            status=exc.status_code,
        )
    return _saved(user_id, changed, "reactivated" if wanted else "deactivated")


@router.post("/users/{user_id}/password")
async def reset_password(
    request: Request,
    user_id: int,
    password: TextField,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
) -> Response:
    """Set a new password; the user's sessions end, and so does the admin's own if it is theirs."""
    try:
        async with db.transaction() as session:
            user = await accounts.access_user(session, user_id, lock=True)
            await auth.set_password(session, user=user, password=password)
    except InvalidInput as exc:
        return await _render_user(
            request,
            db,
            ctx,
            staff,
            user_id,
            errors=field_errors(exc, default_field="password"),
            status=exc.status_code,
        )
    return _saved(user_id, True, "password")


# API tokens


async def _render_tokens(
    request: Request,
    db: Database,
    ctx: Context,
    staff: Staff,
    *,
    issued: users.IssuedToken | None = None,
    issued_to: str | None = None,
    errors: dict[str, str] | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    async with db.read() as session:
        tokens = list(
            (
                await session.execute(
                    select(ApiToken, User.email)
                    .join(User, User.id == ApiToken.user_id)
                    .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
                )
            ).all()
        )
        active_users = list(
            (
                await session.execute(
                    select(User).where(User.active.is_(True)).order_by(User.email)
                )
            ).scalars()
        )
    return render(
        request,
        "console/admin/tokens.html",
        {
            "staff": staff,
            "nav": "admin",
            "tokens": tokens,
            "users": active_users,
            "issued": issued,
            "issued_to": issued_to,
            "errors": errors or {},
            "form": form or {},
            "revoked": request.query_params.get("revoked"),
        },
        status=status,
        # The new token is in this page only; no cache may keep it.
        headers=NO_STORE,
    )


@router.get("/tokens", response_class=HTMLResponse)
async def list_tokens(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    return await _render_tokens(request, db, ctx, staff)


@router.post("/tokens", response_class=HTMLResponse)
async def create_token(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: AdminStaff,
    user_id: Annotated[int, Form()],
    name: Annotated[str, Form(max_length=200)],
) -> Response:
    """Issue a token and show it in this response only: only its hash is stored.

    The page is rendered instead of redirected to, because after a redirect the token
    could not be shown any more.
    """
    form = {"user_id": user_id, "name": name}
    if not name.strip():
        return await _render_tokens(
            request,
            db,
            ctx,
            staff,
            errors={"name": "give the token a name, such as the system that will use it"},
            form=form,
            status=422,
        )
    async with db.transaction() as session:
        user = await accounts.access_user(session, user_id)
        if not user.active:
            issued = None
        else:
            issued = users.issue_token(session, user=user, name=name.strip(), at=ctx.clock.now())
        email = user.email
    if issued is None:
        return await _render_tokens(
            request,
            db,
            ctx,
            staff,
            errors={"user_id": f"{email} is deactivated; reactivate the account first"},
            form=form,
            status=409,
        )
    return await _render_tokens(request, db, ctx, staff, issued=issued, issued_to=email)


@router.post("/tokens/{token_id}/revoke")
async def revoke_token(
    token_id: int, db: DatabaseDep, ctx: ContextDep, staff: AdminStaff
) -> Response:
    async with db.transaction() as session:
        token = await accounts.access_token(session, token_id)
        accounts.revoke_token(token, by=staff.user, at=ctx.clock.now())
        prefix = token.token_prefix
    return RedirectResponse(f"/console/admin/tokens?revoked={prefix}", status_code=303)
