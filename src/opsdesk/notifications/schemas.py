"""Request and response bodies of the notification routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, UrlConstraints, field_validator

from opsdesk.notifications.preferences import parse_clock_time, parse_timezone

WebhookUrl = Annotated[HttpUrl, UrlConstraints(max_length=2000)]


class PreferencesUpdate(BaseModel):
    """The whole set of a user's notification preferences; fields left out are cleared."""

    model_config = ConfigDict(extra="forbid")

    channels: dict[str, list[str]] | None = Field(
        description='Event type (or "*" for all) to channels: inbox, email, slack, teams. '
        "null goes back to the defaults."
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA time zone of the quiet hours, such as Europe/Berlin.",
    )
    quiet_hours_start: str | None = Field(
        default=None, description="HH:MM local time when quiet hours begin."
    )
    quiet_hours_end: str | None = Field(
        default=None,
        description="HH:MM local time when quiet hours end; earlier than the start "
        "for a window across midnight.",
    )
    slack_webhook_url: WebhookUrl | None = Field(
        default=None, description="Slack (or Slack-compatible) incoming-webhook URL."
    )
    teams_webhook_url: WebhookUrl | None = Field(
        default=None, description="Microsoft Teams incoming-webhook or Workflows URL."
    )

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timezone(value)
        return value

    @field_validator("quiet_hours_start", "quiet_hours_end")
    @classmethod
    def _check_clock_time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_clock_time(value)
        return value


class PreferencesView(BaseModel):
    channels: dict[str, list[str]]
    using_defaults: bool = Field(description="True while the user has saved no channels.")
    timezone: str | None
    quiet_hours_start: str | None
    quiet_hours_end: str | None
    slack_webhook_url: str | None
    teams_webhook_url: str | None


class NotificationView(BaseModel):
    id: int
    kind: str
    title: str
    body: str
    ticket: str | None = Field(description="Reference of the ticket, such as SR-000123.")
    task: str | None = Field(description="Reference of the task, such as TK-000045.")
    created_at: datetime
    read_at: datetime | None


class NotificationPage(BaseModel):
    items: list[NotificationView]
    next_cursor: str | None = Field(description="Pass as ?cursor= to get older notifications.")
    unread_count: int
