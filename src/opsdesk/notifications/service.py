"""Fill staff inboxes. Channels outside Opsdesk (Slack, e-mail) are fed by subscriptions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.notifications.models import Notification
from opsdesk.users.models import User


def notify_users(
    session: AsyncSession,
    *,
    users: list[User],
    kind: str,
    title: str,
    body: str,
    at: datetime,
    ticket_id: int | None = None,
    task_id: int | None = None,
) -> list[Notification]:
    notifications = [
        Notification(
            user_id=user.id,
            ticket_id=ticket_id,
            task_id=task_id,
            kind=kind,
            title=title,
            body=body,
            created_at=at,
        )
        for user in users
    ]
    session.add_all(notifications)
    return notifications
