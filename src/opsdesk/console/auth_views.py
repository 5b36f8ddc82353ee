"""Sign-in and sign-out pages."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opsdesk.console.deps import HOME_BY_ROLE, SESSION_COOKIE, AnyStaff
from opsdesk.users import auth
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)

LOGIN_CSRF_COOKIE = "opsdesk_login_csrf"


def _safe_next(next_path: str | None) -> str | None:
    """Accept only a path on this site, so the sign-in form cannot redirect elsewhere."""
    if next_path and next_path.startswith("/") and not next_path.startswith("//"):
        return next_path
    return None


def _login_page(
    request: Request,
    *,
    next_path: str | None,
    error: str | None,
    email: str = "",
    status: int = 200,
) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(
        request,
        "console/login.html",
        {
            "next": next_path or "",
            "error": error,
            "email": email,
            "login_csrf": token,
            "staff": None,
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/console/login",
    )
    return response


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, next: str | None = None) -> Response:
    return _login_page(request, next_path=_safe_next(next), error=None)


@router.post("/login")
async def login(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    email: Annotated[str, Form(max_length=320)],
    password: Annotated[str, Form(max_length=1000)],
    login_csrf: Annotated[str, Form(max_length=100)],
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    next_path = _safe_next(next)
    if not expected or not secrets.compare_digest(expected, login_csrf):
        return _login_page(
            request,
            next_path=next_path,
            error="The form expired; please sign in again.",
            email=email,
            status=400,
        )
    # The transaction commits a refusal too, so failed attempts count towards the lockout.
    async with db.transaction() as session:
        signed_in = await auth.sign_in(
            session, email=email, password=password, settings=ctx.settings, at=ctx.clock.now()
        )
    if isinstance(signed_in, auth.SignInRefused):
        return _login_page(
            request,
            next_path=next_path,
            error=signed_in.reason[:1].upper() + signed_in.reason[1:] + ".",
            email=email,
            status=401,
        )
    response = RedirectResponse(next_path or HOME_BY_ROLE[signed_in.user.role], status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        signed_in.token,
        httponly=True,
        samesite="lax",
        secure=ctx.settings.base_url.startswith("https://"),
        max_age=ctx.settings.session_max_days * 86400,
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/console/login")
    return response


@router.post("/logout")
async def logout(request: Request, db: DatabaseDep, staff: AnyStaff) -> Response:
    token = request.cookies.get(SESSION_COOKIE, "")
    async with db.transaction() as session:
        await auth.sign_out(session, token=token)
    response = RedirectResponse("/console/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("")
@router.get("/")
async def console_home(staff: AnyStaff) -> Response:
    return RedirectResponse(staff.home, status_code=303)
