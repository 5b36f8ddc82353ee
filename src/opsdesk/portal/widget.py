"""The request widget that other websites embed with one script tag.

`/widget.js` adds a button to the host page that opens `/widget/form` in a frame. Only
the workspace's `allowed_origins` may frame the pages under `/widget/` (SecurityHeaders
sets `frame-ancestors`). The frame posts the form to this server itself, and tickets
created through it have the channel "widget".
"""

from __future__ import annotations

import hashlib
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opsdesk.context import Context
from opsdesk.errors import NotFound
from opsdesk.portal import csrf
from opsdesk.portal.forms import request_form_context
from opsdesk.portal.intake import status_context
from opsdesk.portal.submission import submit_request_form
from opsdesk.web.cors import normalize_origin
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import STATIC, render

router = APIRouter(include_in_schema=False)

WIDGET_SCRIPT = (STATIC / "widget.js").read_bytes()
WIDGET_ETAG = '"' + hashlib.sha256(WIDGET_SCRIPT).hexdigest()[:32] + '"'
WIDGET_MAX_AGE_SECONDS = 3600
"""The script's address has no version in it, so caches keep it for an hour only."""

FORM_EXPIRED = (
    "This form could not be checked as coming from this site. Reload the form and send it again."
)


def _parent_origin(ctx: Context, origin: str | None) -> str | None:
    """Return the host page's origin when it is allowed to embed the widget, else None.

    The frame's script sends messages (such as "close me") only to this origin.
    """
    if not origin:
        return None
    allowed = {normalize_origin(item) for item in ctx.workspace.spec.allowed_origins}
    return origin if normalize_origin(origin) in allowed else None


@router.api_route("/widget.js", methods=["GET", "HEAD"])
async def widget_script(request: Request) -> Response:
    headers = {
        "Cache-Control": f"public, max-age={WIDGET_MAX_AGE_SECONDS}",
        "ETag": WIDGET_ETAG,
        # Pages that isolate themselves (Cross-Origin-Embedder-Policy) may load it.
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if request.headers.get("if-none-match") == WIDGET_ETAG:
        return Response(status_code=304, headers=headers)
    return Response(WIDGET_SCRIPT, media_type="text/javascript; charset=utf-8", headers=headers)


def _form_page(
    request: Request,
    ctx: Context,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    parent_origin: str | None,
    alert: str | None = None,
    status: int = 200,
) -> Response:
    action = "/widget/form"
    if parent_origin:
        action += "?" + urlencode({"origin": parent_origin})
    context = request_form_context(
        ctx, values=values, errors=errors, action=action, csrf_token=None, alert=alert
    )
    context["parent_origin"] = parent_origin
    return render(request, "widget/form.html", context, status=status)


@router.get("/widget/form")
async def widget_form(
    request: Request,
    ctx: ContextDep,
    service_type: Annotated[str | None, Query(max_length=64)] = None,
    origin: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _form_page(
        request,
        ctx,
        values={"service_type": service_type or ""},
        errors={},
        parent_origin=_parent_origin(ctx, origin),
    )


@router.post("/widget/form")
async def submit_widget_form(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    origin: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    parent_origin = _parent_origin(ctx, origin)
    submission = await submit_request_form(
        request,
        db,
        ctx,
        channel="widget",
        csrf_valid=lambda _form: csrf.same_origin_post(request, ctx.settings),
    )
    if submission.created is not None:
        target = f"/widget/sent/{quote(submission.created.status_token)}"
        if parent_origin:
            target += "?" + urlencode({"origin": parent_origin})
        return RedirectResponse(target, status_code=303)
    return _form_page(
        request,
        ctx,
        values=submission.values,
        errors=submission.errors,
        parent_origin=parent_origin,
        alert=FORM_EXPIRED if submission.status == 403 else submission.alert,
        status=submission.status,
    )


@router.get("/widget/sent/{token}")
async def widget_sent(
    request: Request,
    token: str,
    db: DatabaseDep,
    ctx: ContextDep,
    origin: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    try:
        page = await status_context(db, ctx, token)
    except NotFound:
        return render(
            request,
            "widget/message.html",
            {"heading": "Not found", "message": "No request matches this link."},
            status=404,
        )
    context = page.context | {"parent_origin": _parent_origin(ctx, origin)}
    return render(
        request,
        "widget/sent.html",
        context,
        headers={"Cache-Control": "no-store", "X-Robots-Tag": "noindex"},
    )
