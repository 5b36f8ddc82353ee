"""The ticket export for supervisors: one CSV row per ticket with its SLA outcome.

Cells are quoted by the csv module (RFC 4180). A cell that a spreadsheet would read
as a formula (starting with = + - @, a tab or a carriage return) gets a leading
apostrophe, so text a customer typed cannot run as a formula when the file is opened.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable
from datetime import date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.console.deps import SupervisorStaff
from opsdesk.console.reports import TICKET_METRICS, workspace_zone
from opsdesk.context import Context
from opsdesk.errors import InvalidInput
from opsdesk.sla.models import SlaClock
from opsdesk.sla.reading import clock_view
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.service import reference_of
from opsdesk.users.models import User
from opsdesk.web.deps import ContextDep, DatabaseDep

router = APIRouter(include_in_schema=False)

DEFAULT_RANGE_DAYS = 30
BATCH_SIZE = 500
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = [
    "reference",
    "subject",
    "created",
    "status",
    "priority",
    "service_type",
    "pipeline",
    "contact_method",
    *(
        f"{metric}_{part}"
        for metric in TICKET_METRICS
        for part in ("due", "met", "breached", "business_seconds")
    ),
    "assignee",
]


def guard_cell(value: str) -> str:
    """Prefix a cell that a spreadsheet would run as a formula with an apostrophe."""
    if value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_line(cells: Iterable[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([guard_cell(cell) for cell in cells])
    return buffer.getvalue()


def parse_range(first: str | None, last: str | None, *, today: date) -> tuple[date, date]:
    """Return the first and last day (inclusive) of the export; the default is 30 days."""
    problems = []
    days: dict[str, date | None] = {}
    for field, value in (("from", first), ("to", last)):
        days[field] = None
        if value:
            try:
                days[field] = date.fromisoformat(value)
            except ValueError:
                problems.append({"field": field, "message": f"invalid date {value!r}"})
    if problems:
        raise InvalidInput(
            "invalid export range; give dates as YYYY-MM-DD, for example ?from=2026-03-01",
            details=problems,
        )
    end = days["to"] or today
    start = days["from"] or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    if start > end:
        raise InvalidInput(
            f"invalid export range: from {start} is after to {end}",
            details=[{"field": "from", "message": "must not be after to"}],
        )
    return start, end


def _yes_no(value: bool | None) -> str:
    if value is None:
        return ""
    return "yes" if value else "no"


def _clock_cells(clock: SlaClock | None, ctx: Context, *, now: datetime) -> list[str]:
    """Return due, met, breached and business seconds of a clock; met is empty while it runs."""
    if clock is None:
        return ["", "", "", ""]
    zone = workspace_zone(ctx.workspace)
    calendar = ctx.workspace.calendars.get(clock.calendar)
    if calendar is None:
        # The calendar was removed from the workspace file: report the stored values.
        due, elapsed = clock.due_at, clock.elapsed_seconds
        state = "breached" if clock.breached_at is not None else clock.phase
    else:
        view = clock_view(clock, calendar, now=now, task=None)
        due, elapsed, state = view.due_at, view.business_seconds_elapsed, view.state
    has_target = clock.target_seconds is not None
    met = None
    if has_target and state in {"met", "breached"}:
        met = state == "met"
    return [
        due.astimezone(zone).isoformat() if due is not None else "",
        _yes_no(met),
        _yes_no(state == "breached") if has_target else "",
        str(int(elapsed)),
    ]


async def export_batch(
    session: AsyncSession,
    ctx: Context,
    *,
    start: datetime,
    end: datetime,
    after_id: int,
    now: datetime,
) -> tuple[list[str], int | None]:
    """Return CSV lines of up to BATCH_SIZE tickets created in [start, end) after `after_id`.

    The second value is the last ticket id written, or None when there were no more.
    """
    tickets = list(
        (
            await session.execute(
                select(Ticket)
                .where(Ticket.created_at >= start, Ticket.created_at < end, Ticket.id > after_id)
                .order_by(Ticket.id)
                .limit(BATCH_SIZE)
            )
        ).scalars()
    )
    if not tickets:
        return [], None
    ids = [ticket.id for ticket in tickets]
    clocks: dict[tuple[int, str], SlaClock] = {}
    rows = await session.execute(
        select(SlaClock)
        .where(
            SlaClock.ticket_id.in_(ids),
            SlaClock.task_id.is_(None),
            SlaClock.metric.in_(TICKET_METRICS),
        )
        .order_by(SlaClock.cycle)
    )
    for clock in rows.scalars():
        # Ordered by cycle, so a reopened ticket reports its latest cycle.
        clocks[(clock.ticket_id, clock.metric)] = clock
    assignee_ids = {ticket.assignee_id for ticket in tickets if ticket.assignee_id is not None}
    emails: dict[int, str] = {}
    if assignee_ids:
        found = await session.execute(select(User.id, User.email).where(User.id.in_(assignee_ids)))
        emails = {user_id: email for user_id, email in found}

    zone = workspace_zone(ctx.workspace)
    lines = []
    for ticket in tickets:
        cells = [
            reference_of(ctx, ticket),
            ticket.subject,
            ticket.created_at.astimezone(zone).isoformat(),
            ticket.status,
            ticket.priority,
            ticket.service_type,
            ticket.pipeline,
            ticket.contact_method,
        ]
        for metric in TICKET_METRICS:
            cells += _clock_cells(clocks.get((ticket.id, metric)), ctx, now=now)
        cells.append(emails.get(ticket.assignee_id, "") if ticket.assignee_id else "")
        lines.append(csv_line(cells))
    return lines, tickets[-1].id


@router.get("/reports/tickets.csv")
async def tickets_csv(
    db: DatabaseDep,
    ctx: ContextDep,
    _staff: SupervisorStaff,
    first: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    last: Annotated[str | None, Query(alias="to", max_length=10)] = None,
) -> StreamingResponse:
    """Tickets created from `from` to `to` (whole days in the workspace's time zone)."""
    now = ctx.clock.now()
    zone = workspace_zone(ctx.workspace)
    first_day, last_day = parse_range(first, last, today=now.astimezone(zone).date())
    start = datetime.combine(first_day, time(0), tzinfo=zone)
    end = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)

    async def body() -> AsyncIterator[str]:
        yield csv_line(COLUMNS)
        after_id = 0
        while True:
            # A short read per batch, so a long export keeps no transaction open.
            async with db.read() as session:
                lines, last_id = await export_batch(
                    session, ctx, start=start, end=end, after_id=after_id, now=now
                )
            if last_id is None:
                return
            yield "".join(lines)
            after_id = last_id

    filename = f"tickets-{first_day.isoformat()}-to-{last_day.isoformat()}.csv"
    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
