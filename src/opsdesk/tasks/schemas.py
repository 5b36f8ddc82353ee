from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from opsdesk.tickets.schemas import ClockView


class TaskView(BaseModel):
    reference: str
    ticket: str
    title: str
    template: str
    pipeline: str
    stage: str
    priority: str
    team: str | None
    assignee_email: str | None
    site_address: str | None
    due_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    clock: ClockView | None


class TaskPage(BaseModel):
    items: list[TaskView]


class TaskUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str | None = Field(default=None, max_length=64)
    team: str | None = Field(default=None, max_length=64)
    assignee_email: EmailStr | None = None
