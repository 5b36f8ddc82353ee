"""Reading and checking the public request and reply forms.

Field checks come from `IntakeRequest` and the workspace rules from
`tickets.service.check_intake`, so the forms accept exactly what the API accepts. Errors
are turned into one sentence per field for the page to show next to the field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from pydantic import ValidationError
from pydantic_core import ErrorDetails
from starlette.datastructures import FormData, UploadFile
from starlette.types import Message

from opsdesk.context import Context
from opsdesk.errors import InvalidInput
from opsdesk.portal.attachments import ACCEPT_ATTRIBUTE, accepted_types_text, size_text
from opsdesk.tickets import service as tickets
from opsdesk.tickets.schemas import LIMITS, IntakeRequest, ReplyRequest

INTAKE_FIELDS = (
    "service_type",
    "contact_method",
    "priority",
    "name",
    "email",
    "phone",
    "subject",
    "description",
    "site_address",
)
OPTIONAL_FIELDS = frozenset({"priority", "phone", "site_address"})
ATTACHMENTS_FIELD = "attachments"

LABELS = {
    "service_type": "Service",
    "contact_method": "How we should help",
    "priority": "Priority",
    "name": "Your name",
    "email": "E-mail",
    "phone": "Phone",
    "subject": "Subject",
    "description": "Description",
    "site_address": "Site address",
    "body": "Your reply",
    ATTACHMENTS_FIELD: "Attachments",
}
"""Field to the label the pages show, also used in the error summary."""

_MISSING = {
    "service_type": "Choose a service.",
    "contact_method": "Choose how we should help.",
    "priority": "Choose a priority.",
    "name": "Enter your name.",
    "email": "Enter your e-mail address.",
    "phone": "Enter your phone number.",
    "subject": "Enter a short subject.",
    "description": "Describe what you need.",
    "site_address": "Enter the address of the site.",
    "body": "Write your reply.",
}
_UNKNOWN_CHOICE = {
    "service_type": "Choose one of the listed services.",
    "contact_method": "Choose one of the listed ways we can help.",
    "priority": "Choose one of the listed priorities.",
}

FORM_OVERHEAD_BYTES = 256 * 1024
"""Room for the text fields and multipart headers on top of the attached files."""
MAX_FORM_FIELDS = 50


class FormTooLarge(Exception):
    """The form's body is larger than its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the form is larger than {limit} bytes")
        self.limit = limit


class FormUnreadable(Exception):
    """The body is not a form."""


def form_limit(max_files: int, max_bytes: int) -> int:
    """Return the largest body a form with attachments may have, in bytes."""
    return max_files * max_bytes + FORM_OVERHEAD_BYTES


async def read_form(request: Request, *, max_body_bytes: int, max_files: int) -> FormData:
    """Read the form body, up to `max_body_bytes`, and parse it.

    The body is read here first because the form parser spools files to disk without a
    total limit. The caller must `await form.close()` to delete spooled files.
    Raises FormTooLarge or FormUnreadable.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise FormUnreadable(content_type)
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_body_bytes:
        raise FormTooLarge(max_body_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise FormTooLarge(max_body_bytes)
        chunks.append(chunk)
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    parsed = Request(request.scope, receive=replay)
    # Up to ten files more than allowed are parsed, so the page can name the count instead
    # of rejecting the whole form.
    return await parsed.form(max_files=max_files + 10, max_fields=MAX_FORM_FIELDS)


def text_value(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def uploads_of(form: FormData) -> list[UploadFile]:
    return [item for item in form.getlist(ATTACHMENTS_FIELD) if isinstance(item, UploadFile)]


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _field_message(name: str, error: ErrorDetails) -> str:
    kind = error["type"]
    context: dict[str, Any] = dict(error.get("ctx") or {})
    if kind in ("missing", "string_too_short") and name in _MISSING:
        if name == "phone" and kind == "string_too_short":
            return "Enter the whole phone number, with its area code."
        return _MISSING[name]
    if kind == "string_too_long":
        return f"Use at most {context.get('max_length')} characters."
    if name == "email":
        return "Enter a valid e-mail address, such as name@example.com."
    if name == "phone" and kind == "string_pattern_mismatch":
        return "Use digits, spaces and + - ( ) . only, such as +234 803 555 0101."
    return _sentence(str(error["msg"]).removeprefix("Value error, "))


def _errors_by_field(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(name, _field_message(name, error))
    return errors


@dataclass
class IntakeForm:
    """A submitted request form: what the customer typed and what is wrong with it."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)
    request: IntakeRequest | None = None


def check_intake_form(form: FormData, ctx: Context) -> IntakeForm:
    """Check the text fields of a request form against the intake rules of the workspace."""
    values = {name: text_value(form, name) for name in INTAKE_FIELDS}
    data = {name: value for name, value in values.items() if value or name not in OPTIONAL_FIELDS}
    result = IntakeForm(values=values)
    try:
        result.request = IntakeRequest.model_validate(data)
    except ValidationError as exc:
        result.errors = _errors_by_field(exc)
    # The workspace rules (known keys, phone and site address per contact method) are
    # checked even when a field failed above, so every problem shows at once.
    raw = tickets.NewTicket(
        name=values["name"],
        email=values["email"] or None,
        phone=values["phone"] or None,
        service_type=values["service_type"],
        contact_method=values["contact_method"],
        priority=values["priority"] or None,
        subject=values["subject"],
        description=values["description"],
        site_address=values["site_address"] or None,
    )
    try:
        tickets.check_intake(ctx, raw)
    except InvalidInput as exc:
        for detail in exc.details:
            name = str(detail["field"])
            if name in _UNKNOWN_CHOICE:
                message = _MISSING[name] if not values.get(name) else _UNKNOWN_CHOICE[name]
            else:
                message = _sentence(str(detail["message"]))
            result.errors.setdefault(name, message)
    if result.errors:
        result.request = None
    return result


@dataclass
class ReplyForm:
    body: str
    error: str | None = None


def check_reply_form(form: FormData) -> ReplyForm:
    body = text_value(form, "body")
    try:
        ReplyRequest.model_validate({"body": body})
    except ValidationError as exc:
        return ReplyForm(body=body, error=_errors_by_field(exc).get("body"))
    return ReplyForm(body=body)


def _form_position(name: str) -> int:
    order = (*INTAKE_FIELDS, ATTACHMENTS_FIELD)
    return order.index(name) if name in order else len(order)


def request_form_context(
    ctx: Context,
    *,
    values: dict[str, str],
    errors: dict[str, str],
    action: str,
    csrf_token: str | None,
    alert: str | None = None,
) -> dict[str, Any]:
    """Return the template context of the request form, built from the workspace."""
    spec = ctx.workspace.spec
    settings = ctx.settings
    return {
        "service_types": spec.service_types,
        "contact_methods": spec.contact_methods,
        "priorities": spec.priorities,
        "values": {"priority": spec.default_priority, **{k: v for k, v in values.items() if v}},
        "errors": {name: errors[name] for name in sorted(errors, key=_form_position)},
        "labels": LABELS,
        "action": action,
        "csrf_token": csrf_token,
        "alert": alert,
        "limits": LIMITS,
        "max_files": settings.attachment_max_files,
        "max_bytes": settings.attachment_max_bytes,
        "max_size_text": size_text(settings.attachment_max_bytes),
        "accepted_text": accepted_types_text(),
        "accept": ACCEPT_ATTRIBUTE,
    }
