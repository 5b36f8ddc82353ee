"""Building blocks shared by the workspace file's sections: keys, durations, statuses."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from opsdesk.calendars.durations import parse_duration

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"

Key = Annotated[str, Field(pattern=KEY_PATTERN, max_length=64)]
"""A lowercase snake_case identifier such as ``smart_home``."""


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"invalid duration {value!r}: write it as a quoted string like PT4H")
    duration = parse_duration(value)
    if duration <= timedelta(0):
        raise ValueError(f'invalid duration "{value}": must be longer than zero')
    return duration


Duration = Annotated[timedelta, BeforeValidator(_duration)]


def _offset(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"invalid offset {value!r}: write it as a quoted string like -PT1H or PT30M"
        )
    return parse_duration(value)


Offset = Annotated[timedelta, BeforeValidator(_offset)]
"""A signed duration: negative is before the instant it is measured from."""
Fraction = Annotated[float, Field(gt=0, lt=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"
    OPERATIONAL = "operational"


class TicketStatus(StrEnum):
    NEW = "new"
    OPEN = "open"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    PENDING_THIRD_PARTY = "pending_third_party"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Named(Strict):
    key: Key
    name: str = Field(min_length=1, max_length=120)
