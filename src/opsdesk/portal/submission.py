"""The POST handling that the portal's and the widget's request forms share."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import Request
from starlette.datastructures import FormData

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import InvalidInput
from opsdesk.portal.attachments import CheckedFile, check_uploads, size_text
from opsdesk.portal.forms import (
    ATTACHMENTS_FIELD,
    FormTooLarge,
    FormUnreadable,
    check_intake_form,
    form_limit,
    read_form,
    uploads_of,
)
from opsdesk.portal.intake import create_request
from opsdesk.tickets.schemas import IntakeRequest
from opsdesk.tickets.service import CreatedTicket

FORM_EXPIRED = (
    "This form expired or your browser did not send its security cookie. Check your "
    "entries, attach any files again and send the form once more."
)


@dataclass
class Submission:
    """The outcome of one form POST: a created ticket, or the form to show again."""

    created: CreatedTicket | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    alert: str | None = None
    status: int = 200


def too_large_alert(ctx: Context) -> str:
    settings = ctx.settings
    return (
        f"The form and its files are larger than "
        f"{size_text(form_limit(settings.attachment_max_files, settings.attachment_max_bytes))}"
        f" in total. Attach at most {settings.attachment_max_files} files of up to "
        f"{size_text(settings.attachment_max_bytes)} each and fill in the form again."
    )


async def read_public_form(request: Request, ctx: Context) -> FormData | Submission:
    """Read a public form with attachments, or return a Submission with the reason it failed."""
    settings = ctx.settings
    try:
        return await read_form(
            request,
            max_body_bytes=form_limit(settings.attachment_max_files, settings.attachment_max_bytes),
            max_files=settings.attachment_max_files,
        )
    except FormTooLarge:
        return Submission(alert=too_large_alert(ctx), status=413)
    except FormUnreadable:
        return Submission(
            alert="The form could not be read. Reload the page and fill it in again.", status=400
        )


async def submit_request_form(
    request: Request,
    db: Database,
    ctx: Context,
    *,
    channel: str,
    csrf_valid: Callable[[FormData], bool],
) -> Submission:
    """Check a request form with its files and create the ticket when all is well."""
    form = await read_public_form(request, ctx)
    if isinstance(form, Submission):
        return form
    try:
        checked = check_intake_form(form, ctx)
        if not csrf_valid(form):
            return Submission(values=checked.values, alert=FORM_EXPIRED, status=403)
        files = await check_uploads(
            uploads_of(form),
            max_files=ctx.settings.attachment_max_files,
            max_bytes=ctx.settings.attachment_max_bytes,
        )
    finally:
        await form.close()
    errors = dict(checked.errors)
    if files.problems:
        errors[ATTACHMENTS_FIELD] = " ".join(files.problems)
    if errors or checked.request is None:
        return Submission(values=checked.values, errors=errors, status=422)
    return await _create(db, ctx, checked.request, files.files, checked.values, channel)


async def _create(
    db: Database,
    ctx: Context,
    request: IntakeRequest,
    files: list[CheckedFile],
    values: dict[str, str],
    channel: str,
) -> Submission:
    try:
        created = await create_request(db, ctx, request, files, channel=channel)
    except InvalidInput as exc:
        # The form checks ran the same rules, so this is a rule the form does not know.
        errors = {str(detail["field"]): str(detail["message"]) for detail in exc.details}
        alert = exc.message[:1].upper() + exc.message[1:] + "."
        return Submission(values=values, errors=errors, alert=alert, status=422)
    return Submission(created=created, values=values)
