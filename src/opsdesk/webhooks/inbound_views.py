"""``POST /api/v1/inbound/{source}``: other systems create and update tickets by webhook.

The request carries no bearer token. It is authenticated by its Standard Webhooks
signature, made with the secret the workspace file gives the source.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError

from opsdesk.errors import Unauthorized
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.responses import JSON_BODY_ERRORS, error_responses
from opsdesk.webhooks.inbound import Outcome, find_source, receive_message
from opsdesk.webhooks.signing import verify_signature

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1", tags=["inbound webhooks"])


class InboundResponse(BaseModel):
    outcome: Outcome = Field(
        description="created, updated, unchanged, ignored (the ticket is closed), or "
        "duplicate (this webhook-id was handled before; nothing changed)."
    )
    external_id: str = Field(description="The value at the source's id_field.")
    reference: str | None = Field(description="The ticket the message created or updated.")
    summary: str
    changes: list[str]


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        # The same 400 invalid_json response as every other JSON route.
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", 0),
                    "msg": "JSON decode error",
                    "ctx": {"error": str(exc)},
                }
            ]
        ) from exc


@router.post(
    "/inbound/{source}",
    response_model=InboundResponse,
    responses={
        201: {"description": "A new ticket was created."},
        200: {"description": "The ticket was updated, left as it was, or the retry ignored."},
        **error_responses(
            *JSON_BODY_ERRORS,
            401,
            404,
            409,
            descriptions={
                401: "The signature is missing, invalid or too old.",
                404: "No such inbound source, or it is disabled.",
                422: "The body does not fit the source's mappings; `fields` names the body path.",
            },
        ),
    },
)
async def receive_inbound(
    source: str, request: Request, response: Response, db: DatabaseDep, ctx: ContextDep
) -> InboundResponse:
    """Create a ticket for a new external id, or update the ticket that has it.

    Sign the request with the source's secret as Standard Webhooks describes. A retry
    with the same webhook-id changes nothing and returns `"outcome": "duplicate"`.
    """
    spec = find_source(ctx, source)
    raw = await request.body()
    assert spec.secret is not None, "find_source returns enabled sources only"
    try:
        message_id = verify_signature(
            spec.secret,
            request.headers,
            raw,
            now=ctx.clock.now(),
            tolerance_seconds=ctx.settings.inbound_timestamp_tolerance_seconds,
        )
    except Unauthorized as exc:
        logger.warning("inbound %s request rejected: %s", source, exc.message)
        raise
    body = _parse_json(raw)
    try:
        async with db.transaction() as session:
            result = await receive_message(session, ctx, spec, message_id=message_id, body=body)
    except IntegrityError:
        # Another request with this webhook-id committed first, which the thread lock
        # rules out unless the two bodies name different external ids. The retry finds
        # the stored event and returns the duplicate response.
        async with db.transaction() as session:
            result = await receive_message(session, ctx, spec, message_id=message_id, body=body)
    if result.outcome == "created":
        response.status_code = 201
    return InboundResponse(
        outcome=result.outcome,
        external_id=result.external_id,
        reference=result.reference,
        summary=result.summary,
        changes=result.changes,
    )
