"""Process settings, read from OPSDESK_* environment variables (or a .env file)."""

from __future__ import annotations

import re
from email.utils import parseaddr
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_HOST_LABEL = r"[a-z0-9]([a-z0-9-]*[a-z0-9])?"
_ALLOWED_HOST_PATTERN = re.compile(rf"^(\*\.)?{_HOST_LABEL}(\.{_HOST_LABEL})*$")
"""A host name, optionally with a leading ``*.`` for every name below a domain."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPSDESK_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite+aiosqlite:///./opsdesk.db",
        description="SQLAlchemy URL: sqlite+aiosqlite:///FILE or postgresql+asyncpg://...",
    )
    workspace: Path = Field(
        default=Path("examples/technical-services.yaml"),
        description="Workspace YAML file used when no --config is given.",
    )
    serve_worker: bool = Field(
        default=True,
        description="Run the background worker inside each API process started by serve.",
    )
    base_url: str = Field(
        default="http://127.0.0.1:8000",
        description="Public address of this deployment, used in status links and notifications.",
    )
    max_request_bytes: int = Field(
        default=64 * 1024, ge=1024, description="Largest JSON body the API accepts, in bytes."
    )
    idle_wakeup_seconds: float = Field(
        default=1.0,
        gt=0,
        description=(
            "Longest a worker sleeps before looking for due work it was not told about, "
            "in seconds. Work created in the same process or announced through PostgreSQL "
            "NOTIFY wakes it at once."
        ),
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Per attempt, in seconds."
    )
    webhook_retry_span_seconds: int = Field(
        default=24 * 3600,
        gt=0,
        description="How long a failing delivery keeps being retried after its first attempt.",
    )
    webhook_lease_seconds: int = Field(
        default=60,
        gt=0,
        description="How long a worker owns a claimed delivery before another may take it.",
    )
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Hosts and networks that webhooks may reach although their address is "
        "private, loopback, link-local or otherwise internal, comma-separated: IP addresses, "
        "CIDR networks (10.20.0.0/16) and host names (hooks.internal, *.corp.example).",
    )
    webhook_secret_overlap_seconds: int = Field(
        default=24 * 3600,
        ge=0,
        description="After a secret rotation, how long deliveries are also signed with the "
        "previous secret, in seconds.",
    )
    webhook_disable_after_seconds: int = Field(
        default=3 * 24 * 3600,
        gt=0,
        description="A subscription whose deliveries fail for this long without one success "
        "is disabled, in seconds.",
    )
    inbound_timestamp_tolerance_seconds: int = Field(
        default=5 * 60,
        gt=0,
        description="Largest difference between an inbound webhook's webhook-timestamp and "
        "the server clock that is accepted, in seconds.",
    )
    log_level: str = Field(default="INFO", description="Python logging level name.")
    secret_key: str | None = Field(
        default=None,
        min_length=32,
        description=(
            "Key that signs acknowledgement links in notifications. When unset, a random key "
            "is created once and kept in the database."
        ),
    )
    session_idle_minutes: int = Field(
        default=12 * 60,
        gt=0,
        description="A console session ends after this many minutes without a request.",
    )
    session_max_days: int = Field(
        default=7, gt=0, description="A console session ends this many days after sign-in."
    )
    max_failed_sign_ins: int = Field(
        default=5, gt=0, description="Failed sign-ins in a row before the account is locked."
    )
    lockout_minutes: int = Field(
        default=15, gt=0, description="How long a locked account stays locked, in minutes."
    )
    attachment_max_files: int = Field(
        default=3,
        ge=0,
        le=20,
        description="Files a customer may attach to one portal or widget submission; 0 turns "
        "attachments off.",
    )
    attachment_max_bytes: int = Field(
        default=5 * 1024 * 1024, ge=1, description="Largest attached file, in bytes."
    )
    rate_limit_address_burst: int = Field(
        default=10,
        ge=1,
        description="Public submissions (intake, portal and widget forms, customer replies) "
        "one client address may send in a row before it is limited.",
    )
    rate_limit_address_per_minute: float = Field(
        default=10.0,
        gt=0,
        description="Submissions per minute that one client address regains after its burst.",
    )
    rate_limit_origin_burst: int = Field(
        default=60,
        ge=1,
        description="Public submissions carrying the same Origin header that may arrive in a "
        "row before that origin is limited.",
    )
    rate_limit_origin_per_minute: float = Field(
        default=60.0,
        gt=0,
        description="Submissions per minute that one Origin regains after its burst.",
    )
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies, comma-separated "
        "(10.0.0.1, 172.16.0.0/12). Only for requests from these does the client address "
        "come from X-Forwarded-For.",
    )
    # E-mail intake and outgoing mail; docs/email.md describes each.
    mail_default_service_type: str | None = Field(
        default=None,
        description="Service type key of tickets created from e-mail. It must exist in the "
        "workspace; while it is unset, e-mail intake rejects messages.",
    )
    mail_default_priority: str | None = Field(
        default=None,
        description="Priority key of tickets created from e-mail (default: the workspace's "
        "default_priority).",
    )
    mail_contact_method: str = Field(
        default="email", description="Contact method key of tickets created from e-mail."
    )
    mail_max_message_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description="Largest raw message POST /api/v1/inbound/email accepts, in bytes.",
    )
    mail_attachment_max_files: int = Field(
        default=10,
        ge=0,
        le=100,
        description="Attachments kept from one incoming message; 0 keeps none.",
    )
    mail_attachment_max_bytes: int = Field(
        default=10 * 1024 * 1024,
        ge=1,
        description="Largest attachment kept from an incoming message, in bytes.",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for outgoing mail; no mail is sent while unset."
    )
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls",
        description="starttls upgrades a plain connection, tls connects with TLS from the "
        "start (usually port 465), none sends in clear text (only for a local relay).",
    )
    smtp_username: str | None = Field(default=None, description="SMTP user name, if needed.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Per SMTP connection attempt, in seconds."
    )
    mail_from: str | None = Field(
        default=None,
        description="From: of outgoing mail, such as 'Brightline Support "
        "<support@example.com>'. Required when OPSDESK_SMTP_HOST is set.",
    )
    mail_reply_to: str | None = Field(
        default=None,
        description="Reply-To: of outgoing mail, when replies go to another address than From:.",
    )
    mail_acknowledge_channels: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["email", "portal", "widget", "api"],
        description="Channels whose new tickets get an acknowledgement by mail, comma-separated.",
    )
    mail_retry_span_seconds: int = Field(
        default=2 * 24 * 3600,
        gt=0,
        description="How long a mail that the SMTP server did not accept keeps being retried.",
    )
    mail_max_event_age_seconds: int = Field(
        default=3 * 24 * 3600,
        gt=0,
        description="Events older than this when the worker first reads them are not mailed, "
        "so turning SMTP on does not mail the whole history.",
    )
    # Staff notifications; docs/notifications.md describes each.
    notification_quiet_hours_bypass_priorities: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Ticket priority keys whose e-mail, Slack and Teams notifications are "
        "sent during the recipient's quiet hours, comma-separated (such as 'urgent'). "
        "Empty: quiet hours hold every notification.",
    )
    notification_retry_span_seconds: int = Field(
        default=36 * 3600,
        gt=0,
        description="How long after it was created a notification that failed to send keeps "
        "being retried. Waiting for quiet hours counts toward it.",
    )

    @model_validator(mode="after")
    def _check_mail_sender(self) -> Settings:
        if self.smtp_host and not self.mail_from:
            raise ValueError(
                "OPSDESK_MAIL_FROM must be set when OPSDESK_SMTP_HOST is, for example "
                "'Support <support@example.com>'"
            )
        for name in ("mail_from", "mail_reply_to"):
            value = getattr(self, name)
            if value is not None and "@" not in parseaddr(value)[1]:
                raise ValueError(
                    f"OPSDESK_{name.upper()} must be an e-mail address such as "
                    f"'Support <support@example.com>', got {value!r}"
                )
        return self

    @field_validator("mail_acknowledge_channels", mode="before")
    @classmethod
    def _split_channels(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("notification_quiet_hours_bypass_priorities", mode="before")
    @classmethod
    def _split_priorities(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _check_lease(self) -> Settings:
        # A worker holds a delivery for one attempt, which lasts at most the timeout.
        # A shorter lease lets a second worker send the same delivery while the first is
        # still waiting for the receiver.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                f"OPSDESK_WEBHOOK_LEASE_SECONDS ({self.webhook_lease_seconds}) must be longer "
                f"than OPSDESK_WEBHOOK_TIMEOUT_SECONDS ({self.webhook_timeout_seconds:g})"
            )
        return self

    @field_validator("webhook_allowed_hosts", mode="before")
    @classmethod
    def _split_allowed_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list):
            return value
        # An IPv6 address may be written in brackets as in a URL: [::1].
        entries = [
            str(item).strip().lower().removeprefix("[").replace("]", "")
            for item in value
            if str(item).strip()
        ]
        for entry in entries:
            if not _ALLOWED_HOST_PATTERN.match(entry):
                try:
                    ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(
                        f"OPSDESK_WEBHOOK_ALLOWED_HOSTS entry {entry!r} is neither an IP "
                        "address, a network such as 10.20.0.0/16, nor a host name such as "
                        "hooks.internal or *.corp.example"
                    ) from None
        return entries

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",") if item.strip()]
            try:
                return [ip_network(item, strict=False) for item in items]
            except ValueError as exc:
                raise ValueError(
                    f"OPSDESK_TRUSTED_PROXIES must list IP addresses or networks such as "
                    f"10.0.0.1 or 172.16.0.0/12, separated by commas: {exc}"
                ) from None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "the database URL must start with sqlite+aiosqlite:// or "
                f"postgresql+asyncpg://, got {value.split('://')[0]}://"
            )
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
