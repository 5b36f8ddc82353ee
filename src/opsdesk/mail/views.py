"""HTTP intake of raw e-mail: ``POST /api/v1/inbound/email`` (admins only for now).

A mail server or relay posts each message as it arrived (Content-Type message/rfc822,
or text/plain) with an admin's bearer token. The response states whether the message
created a ticket, was added to one, or was ignored, and gives the reason.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from opsdesk.errors import InvalidInput, UnsupportedMediaType
from opsdesk.mail.service import IngestOutcome, ingest_message
from opsdesk.web.deps import Admin, ContextDep, DatabaseDep
from opsdesk.web.limits import BodyLimitMiddleware
from opsdesk.web.responses import STAFF_ERRORS, WRITE_ERRORS, error_responses

INBOUND_PATH = "/api/v1/inbound/email"
MAIL_CONTENT_TYPES = ("message/rfc822", "text/plain")

router = APIRouter(prefix="/api/v1", tags=["e-mail"])


class InboundResult(BaseModel):
    outcome: IngestOutcome
    reason: str
    reference: str | None
    attachments: int
    notes: list[str]
    """Lenient decodes and attachments left out, one sentence each."""


@router.post(
    "/inbound/email",
    response_model=InboundResult,
    # The route reads the raw body itself, so FastAPI cannot describe it.
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                content_type: {"schema": {"type": "string", "description": "The whole message."}}
                for content_type in MAIL_CONTENT_TYPES
            },
        }
    },
    responses={
        201: {"description": "A new ticket was created from the message."},
        200: {"description": "The message was added to a ticket, or ignored with a reason."},
        **error_responses(
            *STAFF_ERRORS,
            *WRITE_ERRORS,
            503,
            descriptions={
                422: "The request body is empty.",
                503: "E-mail intake is not configured: OPSDESK_MAIL_DEFAULT_SERVICE_TYPE is "
                "missing or names no service type of the workspace.",
            },
        ),
    },
)
async def inbound_email(
    request: Request, response: Response, db: DatabaseDep, ctx: ContextDep, _user: Admin
) -> InboundResult:
    """Ingest one raw RFC 5322 message: create a ticket, thread a reply, or ignore it.

    Bounces, automatic replies and abuse reports are ignored with a 200, so the relay
    does not retry them. The body limit is OPSDESK_MAIL_MAX_MESSAGE_BYTES.
    """
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in MAIL_CONTENT_TYPES:
        raise UnsupportedMediaType(
            f"Content-Type {content_type or 'none'} is not accepted here; send "
            f"{' or '.join(MAIL_CONTENT_TYPES)}"
        )
    raw = await request.body()
    if not raw.strip():
        raise InvalidInput("the request body is empty; send the whole message as it arrived")
    async with db.transaction() as session:
        result = await ingest_message(session, ctx, raw)
    if result.outcome is IngestOutcome.CREATED:
        response.status_code = 201
    return InboundResult(
        outcome=result.outcome,
        reason=result.reason,
        reference=result.reference,
        attachments=result.attachments,
        notes=list(result.notes),
    )


class BodyLimits:
    """Apply the JSON body limit to the API, and the larger mail limit to mail intake.

    Each path gets its own BodyLimitMiddleware, so raw messages up to
    `mail_max_bytes` reach the intake while every other API write keeps `max_bytes`.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int, mail_max_bytes: int) -> None:
        self.default = BodyLimitMiddleware(app, max_bytes=max_bytes)
        self.mail = BodyLimitMiddleware(
            app, max_bytes=mail_max_bytes, raw_paths={INBOUND_PATH: MAIL_CONTENT_TYPES}
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == INBOUND_PATH:
            await self.mail(scope, receive, send)
        else:
            await self.default(scope, receive, send)
