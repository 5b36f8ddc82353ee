"""The customer portal: service list, request form, confirmation and the private status page.

There are no customer accounts. The confirmation page hands out a private status link
whose token is the only key to the request, so every page behind it is `no-store`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from opsdesk.errors import Conflict, NotFound
from opsdesk.portal import csrf
from opsdesk.portal.attachments import check_uploads, public_attachment
from opsdesk.portal.forms import (
    ATTACHMENTS_FIELD,
    check_reply_form,
    request_form_context,
    uploads_of,
)
from opsdesk.portal.intake import add_reply, status_context
from opsdesk.portal.submission import FORM_EXPIRED, Submission, read_public_form
from opsdesk.portal.submission import submit_request_form as submit_form
from opsdesk.tickets.service import ticket_by_status_token
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.errors import html_error
from opsdesk.web.params import RowId
from opsdesk.web.templating import render

router = APIRouter(include_in_schema=False)

PRIVATE_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex"}
"""Headers of pages reached through a status token."""


def _not_found(request: Request) -> Response:
    return html_error(
        request,
        404,
        "no request matches this status link; check that you copied the whole link",
    )


@router.get("/")
async def home(request: Request, ctx: ContextDep) -> Response:
    return render(request, "portal/home.html", {"service_types": ctx.workspace.spec.service_types})


@router.get("/request")
async def request_form(
    request: Request,
    ctx: ContextDep,
    service_type: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    token = csrf.page_token(request, ctx.settings)
    context = request_form_context(
        ctx,
        values={"service_type": service_type or ""},
        errors={},
        action="/request",
        csrf_token=token,
    )
    response = render(request, "portal/request.html", context)
    csrf.set_token_cookie(response, token, ctx.settings)
    return response


@router.post("/request")
async def submit_request(request: Request, db: DatabaseDep, ctx: ContextDep) -> Response:
    submission = await submit_form(
        request,
        db,
        ctx,
        channel="portal",
        csrf_valid=lambda form: csrf.double_submit_valid(
            request, form.get(csrf.CSRF_FIELD), ctx.settings
        ),
    )
    if submission.created is not None:
        return RedirectResponse(
            f"/request/sent/{quote(submission.created.status_token)}", status_code=303
        )
    return _request_form_again(request, ctx, submission)


def _request_form_again(request: Request, ctx: ContextDep, submission: Submission) -> Response:
    token = csrf.page_token(request, ctx.settings)
    context = request_form_context(
        ctx,
        values=submission.values,
        errors=submission.errors,
        action="/request",
        csrf_token=token,
        alert=submission.alert,
    )
    response = render(request, "portal/request.html", context, status=submission.status)
    csrf.set_token_cookie(response, token, ctx.settings)
    return response


@router.get("/request/sent/{token}")
async def request_sent(request: Request, token: str, db: DatabaseDep, ctx: ContextDep) -> Response:
    try:
        page = await status_context(db, ctx, token)
    except NotFound:
        return _not_found(request)
    return render(request, "portal/sent.html", page.context, headers=PRIVATE_HEADERS)


@router.get("/status/{token}")
async def status_page(
    request: Request,
    token: str,
    db: DatabaseDep,
    ctx: ContextDep,
    replied: bool = False,
) -> Response:
    return await _status_response(request, db, ctx, token, replied=replied)


async def _status_response(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    token: str,
    *,
    replied: bool = False,
    reply: str = "",
    reply_errors: dict[str, str] | None = None,
    alert: str | None = None,
    status: int = 200,
) -> Response:
    try:
        page = await status_context(db, ctx, token)
    except NotFound:
        return _not_found(request)
    csrf_token = csrf.page_token(request, ctx.settings)
    settings = ctx.settings
    context = page.context | request_form_context(
        ctx, values={}, errors={}, action="", csrf_token=csrf_token
    )
    context |= {
        "replied": replied,
        "reply": reply,
        "reply_errors": reply_errors or {},
        "alert": alert,
        "max_files": settings.attachment_max_files,
    }
    response = render(request, "portal/status.html", context, status=status)
    response.headers.update(PRIVATE_HEADERS)
    csrf.set_token_cookie(response, csrf_token, settings)
    return response


@router.post("/status/{token}/reply")
async def reply(request: Request, token: str, db: DatabaseDep, ctx: ContextDep) -> Response:
    form = await read_public_form(request, ctx)
    if isinstance(form, Submission):
        return await _status_response(request, db, ctx, token, alert=form.alert, status=form.status)
    try:
        checked = check_reply_form(form)
        if not csrf.double_submit_valid(request, form.get(csrf.CSRF_FIELD), ctx.settings):
            return await _status_response(
                request, db, ctx, token, reply=checked.body, alert=FORM_EXPIRED, status=403
            )
        files = await check_uploads(
            uploads_of(form),
            max_files=ctx.settings.attachment_max_files,
            max_bytes=ctx.settings.attachment_max_bytes,
        )
    finally:
        await form.close()
    errors: dict[str, str] = {}
    if checked.error:
        errors["body"] = checked.error
    if files.problems:
        errors[ATTACHMENTS_FIELD] = " ".join(files.problems)
    if errors:
        return await _status_response(
            request, db, ctx, token, reply=checked.body, reply_errors=errors, status=422
        )
    try:
        await add_reply(db, ctx, token, checked.body, files.files)
    except NotFound:
        return _not_found(request)
    except Conflict:
        return await _status_response(
            request,
            db,
            ctx,
            token,
            reply=checked.body,
            alert="This request is closed, so it takes no more replies. Send a new request "
            "and mention its reference.",
            status=409,
        )
    return RedirectResponse(f"/status/{quote(token)}?replied=1#conversation", status_code=303)


def _content_disposition(filename: str) -> str:
    # `filename*` carries the real name, and `filename` an ASCII stand-in for old clients.
    fallback = "".join(
        char if char.isascii() and char.isprintable() and char not in '"\\' else "_"
        for char in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


@router.get("/status/{token}/attachments/{attachment_id}")
async def download_attachment(
    request: Request, token: str, attachment_id: RowId, db: DatabaseDep
) -> Response:
    async with db.read() as session:
        try:
            ticket = await ticket_by_status_token(session, token)
        except NotFound:
            return _not_found(request)
        attachment = await public_attachment(session, ticket.id, attachment_id)
    if attachment is None:
        return html_error(request, 404, "this request has no such attachment")
    return Response(
        attachment.content,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": _content_disposition(attachment.filename),
            # The sandbox keeps a file opened in the browser from running as a page of this site.
            "Content-Security-Policy": "default-src 'none'; sandbox",
            **PRIVATE_HEADERS,
        },
    )
