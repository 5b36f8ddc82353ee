"""Error responses that API routes declare, so the OpenAPI document lists each status.

Every error body has the shape that `opsdesk.web.errors` writes:
{"error": {"code": "not_found", "message": "...", "fields": [...]}}. Routers declare the
statuses all their routes share, and each route adds its own through `responses=`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field


class FieldError(BaseModel):
    field: str = Field(
        description="The body field (dotted when nested), query parameter or header at fault."
    )
    message: str


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable kind, such as invalid_input or not_found.")
    message: str = Field(description="What failed, on which value, and what to do next.")
    fields: list[FieldError] = Field(
        default_factory=list,
        description="One entry per invalid field; left out when no single field is at fault.",
    )


class ErrorResponse(BaseModel):
    error: ErrorDetail


DESCRIPTIONS: dict[int, str] = {
    400: "The request body is not valid JSON.",
    401: "The bearer token is missing, invalid or revoked.",
    403: "The token's user does not have a role this operation needs.",
    404: "The resource named in the path does not exist.",
    409: "The request conflicts with the current state of the resource.",
    413: "The request body is larger than the configured limit.",
    415: "The request body has a Content-Type that this operation does not accept.",
    422: "A parameter, header or body field is invalid; `fields` names each one.",
    429: "Too many submissions from this client address or origin; retry after Retry-After "
    "seconds.",
    503: "The database is unavailable; retry after Retry-After seconds.",
}

STAFF_ERRORS = (401, 403, 422)
"""Statuses of every route that needs a staff bearer token."""

JSON_BODY_ERRORS = (400, 413, 415, 422)
"""Statuses of every route that reads a JSON request body."""

WRITE_ERRORS = (413, 415)
"""Statuses of every POST, PUT and PATCH under /api/, whose body the size and type check reads."""


def error_responses(
    *statuses: int, descriptions: Mapping[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """Return a `responses=` mapping that documents `statuses` with the shared error body.

    `descriptions` replaces the standard description of a status where a route means
    something more specific by it.
    """
    overrides = descriptions or {}
    return {
        status: {
            "model": ErrorResponse,
            "description": overrides[status] if status in overrides else DESCRIPTIONS[status],
        }
        for status in statuses
    }
