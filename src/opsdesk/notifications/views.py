"""HTTP routes for the signed-in user's own notification preferences and inbox."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.errors import InvalidInput
from opsdesk.notifications import service
from opsdesk.notifications.models import Notification, NotificationPreference
from opsdesk.notifications.preferences import (
    SLACK,
    TEAMS,
    check_matrix,
    matrices_of,
    parse_clock_time,
    replace_matrix,
)
from opsdesk.notifications.schemas import (
    NotificationPage,
    NotificationView,
    PreferencesUpdate,
    PreferencesView,
)
from opsdesk.settings import Settings
from opsdesk.tickets.queries import decode_cursor, encode_cursor
from opsdesk.tickets.references import TASK_PREFIX, format_reference
from opsdesk.users.models import User
from opsdesk.web.deps import ContextDep, DatabaseDep, Staff
from opsdesk.web.params import RowId
from opsdesk.web.responses import JSON_BODY_ERRORS, STAFF_ERRORS, WRITE_ERRORS, error_responses
from opsdesk.webhooks.guard import OutboundBlocked, guard_for

router = APIRouter(
    prefix="/api/v1/me", tags=["notifications"], responses=error_responses(*STAFF_ERRORS)
)


@router.get("/notification-preferences", response_model=PreferencesView)
async def get_preferences(db: DatabaseDep, user: Staff) -> PreferencesView:
    """Return the channels per event type (the defaults until saved), quiet hours and URLs."""
    async with db.read() as session:
        return await _preferences_view(session, user)


@router.put(
    "/notification-preferences",
    response_model=PreferencesView,
    responses=error_responses(*JSON_BODY_ERRORS),
)
async def put_preferences(
    body: PreferencesUpdate, db: DatabaseDep, ctx: ContextDep, user: Staff
) -> PreferencesView:
    """Replace all of the user's notification preferences with `body`."""
    matrix = check_matrix(body.channels) if body.channels is not None else None
    slack_url = str(body.slack_webhook_url) if body.slack_webhook_url else None
    teams_url = str(body.teams_webhook_url) if body.teams_webhook_url else None
    _check_consistency(body, matrix, slack_url=slack_url, teams_url=teams_url)
    _check_destinations(ctx.settings, slack_url=slack_url, teams_url=teams_url)
    async with db.transaction() as session:
        row = await session.get(User, user.id, with_for_update=True)
        assert row is not None, "the signed-in user exists"
        row.timezone = body.timezone
        row.quiet_hours_start = body.quiet_hours_start
        row.quiet_hours_end = body.quiet_hours_end
        row.slack_webhook_url = slack_url
        row.teams_webhook_url = teams_url
        await replace_matrix(session, user=row, matrix=matrix, at=ctx.clock.now())
        await session.flush()
        return await _preferences_view(session, row)


def _check_consistency(
    body: PreferencesUpdate,
    matrix: dict[str, list[str]] | None,
    *,
    slack_url: str | None,
    teams_url: str | None,
) -> None:
    """Raise InvalidInput for fields that are valid alone but not together."""
    problems: list[dict[str, str]] = []
    start, end = body.quiet_hours_start, body.quiet_hours_end
    if (start is None) != (end is None):
        missing = "quiet_hours_end" if end is None else "quiet_hours_start"
        problems.append({"field": missing, "message": "set both quiet hour fields, or neither"})
    if start is not None and end is not None:
        if parse_clock_time(start) == parse_clock_time(end):
            problems.append(
                {"field": "quiet_hours_end", "message": "must differ from quiet_hours_start"}
            )
        if body.timezone is None:
            problems.append(
                {"field": "timezone", "message": "required with quiet hours, such as Europe/Berlin"}
            )
    chosen = {channel for channels in (matrix or {}).values() for channel in channels}
    if SLACK in chosen and slack_url is None:
        problems.append(
            {"field": "slack_webhook_url", "message": "required while slack is a chosen channel"}
        )
    if TEAMS in chosen and teams_url is None:
        problems.append(
            {"field": "teams_webhook_url", "message": "required while teams is a chosen channel"}
        )
    if problems:
        raise InvalidInput(
            "invalid notification preferences: "
            + "; ".join(f"{item['field']}: {item['message']}" for item in problems),
            details=problems,
        )


def _check_destinations(
    settings: Settings, *, slack_url: str | None, teams_url: str | None
) -> None:
    """Reject URLs that point at internal addresses, as webhook subscriptions do.

    A host name is checked again when a notification is sent, because the address it
    resolves to may change.
    """
    guard = guard_for(settings)
    problems: list[dict[str, str]] = []
    for field, url in (("slack_webhook_url", slack_url), ("teams_webhook_url", teams_url)):
        if url is None:
            continue
        try:
            guard.check_url(url)
        except OutboundBlocked as exc:
            problems.append({"field": field, "message": str(exc)})
    if problems:
        raise InvalidInput(
            "invalid notification preferences: "
            + "; ".join(f"{item['field']}: {item['message']}" for item in problems),
            details=problems,
        )


async def _preferences_view(session: AsyncSession, user: User) -> PreferencesView:
    saved = await session.scalar(
        select(NotificationPreference.id).where(NotificationPreference.user_id == user.id).limit(1)
    )
    matrices = await matrices_of(session, [user.id])
    return PreferencesView(
        channels=matrices[user.id],
        using_defaults=saved is None,
        timezone=user.timezone,
        quiet_hours_start=user.quiet_hours_start,
        quiet_hours_end=user.quiet_hours_end,
        slack_webhook_url=user.slack_webhook_url,
        teams_webhook_url=user.teams_webhook_url,
    )


@router.get("/notifications", response_model=NotificationPage)
async def list_notifications(
    db: DatabaseDep,
    ctx: ContextDep,
    user: Staff,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    unread: bool = False,
) -> NotificationPage:
    """Return the user's inbox, newest first; follow next_cursor for older notifications."""
    before_id = decode_cursor(cursor) if cursor else None
    async with db.read() as session:
        rows, more = await service.inbox_page(
            session, user=user, before_id=before_id, limit=limit, unread_only=unread
        )
        unread_count = await service.unread_count(session, user=user)
    prefix = ctx.workspace.spec.reference_prefix
    return NotificationPage(
        items=[_notification_view(row, prefix) for row in rows],
        next_cursor=encode_cursor(rows[-1].id) if more else None,
        unread_count=unread_count,
    )


@router.post(
    "/notifications/{notification_id}/read",
    response_model=NotificationView,
    responses=error_responses(*WRITE_ERRORS, 404),
)
async def read_notification(
    notification_id: RowId, db: DatabaseDep, ctx: ContextDep, user: Staff
) -> NotificationView:
    """Mark one notification read; marking it again keeps the first read time."""
    async with db.transaction() as session:
        notification = await service.mark_read(
            session, user=user, notification_id=notification_id, at=ctx.clock.now()
        )
        return _notification_view(notification, ctx.workspace.spec.reference_prefix)


def _notification_view(row: Notification, prefix: str) -> NotificationView:
    return NotificationView(
        id=row.id,
        kind=row.kind,
        title=row.title,
        body=row.body,
        ticket=format_reference(prefix, row.ticket_id) if row.ticket_id is not None else None,
        task=format_reference(TASK_PREFIX, row.task_id) if row.task_id is not None else None,
        created_at=row.created_at,
        read_at=row.read_at,
    )
