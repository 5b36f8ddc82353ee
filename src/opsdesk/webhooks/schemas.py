from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl


class SubscriptionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: HttpUrl
    event_types: list[str] = Field(min_length=1, description='Event type names, or ["*"] for all.')
    kind: Literal["webhook", "slack"] = "webhook"
    secret: str | None = Field(
        default=None, description="whsec_ and base64; generated when absent (webhook kind only)."
    )
    description: str | None = Field(default=None, max_length=500)


class SubscriptionView(BaseModel):
    id: str
    kind: str
    url: str
    event_types: list[str]
    description: str | None
    active: bool
    source: Literal["api", "workspace"]
    created_at: datetime
    disabled_reason: str | None
    secret_hint: str | None = Field(description="The first characters of the signing secret.")


class SubscriptionCreated(SubscriptionView):
    secret: str | None = Field(description="The signing secret. It is shown only in this response.")


class AttemptView(BaseModel):
    number: int
    started_at: datetime
    duration_ms: float
    status_code: int | None
    outcome: str
    error: str | None
    response_body: str | None
    request_headers: dict[str, Any]


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
