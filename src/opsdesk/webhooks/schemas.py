from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

CONDITIONS_DESCRIPTION = (
    "A condition on the event, shaped as an automation rule's `when`: "
    '{"field": "priority", "in": ["high", "urgent"]}, or {"all": [...]} and {"any": [...]}.'
)
HEADERS_DESCRIPTION = (
    "Extra request headers, such as Authorization. Hop-by-hop headers, Host, Content-*, "
    "User-Agent, Expect and webhook-* are rejected."
)
TEMPLATE_DESCRIPTION = (
    "A Jinja2 template that renders the JSON body from `event` and `data`, "
    "in place of the standard body."
)


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    event_types: list[str] = Field(min_length=1, description='Event type names, or ["*"] for all.')
    kind: Literal["webhook", "slack"] = "webhook"
    secret: str | None = Field(
        default=None, description="whsec_ and base64; generated when absent (webhook kind only)."
    )
    description: str | None = Field(default=None, max_length=500)
    conditions: dict[str, Any] | None = Field(default=None, description=CONDITIONS_DESCRIPTION)
    headers: dict[str, str] | None = Field(default=None, description=HEADERS_DESCRIPTION)
    payload_template: str | None = Field(default=None, description=TEMPLATE_DESCRIPTION)


class SubscriptionUpdate(BaseModel):
    """The fields to change; absent ones keep their value, null clears an optional one."""

    model_config = ConfigDict(extra="forbid")

    url: HttpUrl | None = None
    event_types: list[str] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    conditions: dict[str, Any] | None = Field(default=None, description=CONDITIONS_DESCRIPTION)
    headers: dict[str, str] | None = Field(default=None, description=HEADERS_DESCRIPTION)
    payload_template: str | None = Field(default=None, description=TEMPLATE_DESCRIPTION)
    active: bool | None = Field(
        default=None,
        description="true enables the subscription and clears its failing run; false pauses it.",
    )


class SubscriptionView(BaseModel):
    id: str
    kind: str
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    source: Literal["api", "workspace"]
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None
    failing_since: datetime | None = Field(
        description="First failed attempt since the last success; null while deliveries succeed."
    )
    secret_hint: str | None = Field(description="The first characters of the signing secret.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries are also signed with the secret before the last "
        "rotation."
    )
    conditions: dict[str, Any] | None
    headers: dict[str, str] | None = Field(
        description="Custom headers; values of secret-looking names are masked."
    )
    payload_template: str | None


class SubscriptionCreated(SubscriptionView):
    secret: str | None = Field(description="The signing secret. It is shown only in this response.")


class SecretRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")

    secret: str | None = Field(
        default=None, description="whsec_ and base64; generated when absent."
    )


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new signing secret. It is shown only in this response.")
    secret_hint: str
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries are also signed with the old secret."
    )


class AttemptView(BaseModel):
    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    outcome: str
    error: str | None
    request_headers: dict[str, Any] = Field(
        description="Headers as sent; Authorization, signatures and secret-looking values masked."
    )
    request_body: str | None = Field(
        description="The body as sent, cut to its first 16 KiB; null when none was built, "
        "such as when the payload template failed."
    )
    request_body_bytes: int | None = Field(description="Size of the whole request body in bytes.")
    response_headers: dict[str, str] | None = Field(
        description="Masked like the request headers; null when no response arrived."
    )
    response_body: str | None = Field(description="The first 2 KiB of the response body.")


class DeliveryView(BaseModel):
    id: str
    event_id: str
    event_type: str
    subscription_id: str
    status: str
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempts: list[AttemptView]


class DeliveryPage(BaseModel):
    items: list[DeliveryView]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get older deliveries.")
