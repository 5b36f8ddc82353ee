"""Process settings, read from OPSDESK_* environment variables (or a .env file)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    log_level: str = Field(default="INFO", description="Python logging level name.")
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
