"""SLA statistics for supervisors: compliance, backlog, breaches by hour, headline counts.

Every figure comes from one aggregate query, so the cost follows the number of groups
and not the number of clocks that Python would otherwise load.

Local days and hours are computed in the database. PostgreSQL converts with
``AT TIME ZONE`` and its own time zone data. SQLite has no time zone data, so the UTC
offsets that the zone uses during the requested period are worked out in Python and
passed into the query as a CASE over the instants where the offset changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Date,
    Integer,
    SQLColumnExpression,
    and_,
    case,
    cast,
    extract,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from opsdesk.sla.engine import Phase
from opsdesk.sla.models import SlaClock
from opsdesk.tickets.models import Ticket
from opsdesk.workspace import Workspace
from opsdesk.workspace.schema import TicketStatus

TICKET_METRICS = ("first_response", "resolution")
PERIOD_DAYS = (7, 30, 90)
CLOSED_STATUSES = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)
STOPPED = Phase.STOPPED.value

GroupBy = Literal["pipeline", "priority"]


def workspace_zone(workspace: Workspace) -> ZoneInfo:
    """Return the time zone of the workspace's default calendar, in which reports are read."""
    return workspace.calendar(workspace.spec.default_calendar).timezone


@dataclass(frozen=True)
class Period:
    """Whole local days ending today: `since` is local midnight `days - 1` days before today."""

    days: int
    since: datetime
    until: datetime
    first_day: date
    last_day: date
    zone: ZoneInfo

    @property
    def by_week(self) -> bool:
        """Long periods are charted per week, short ones per day."""
        return self.days > 31


def period_ending(now: datetime, days: int, zone: ZoneInfo) -> Period:
    last_day = now.astimezone(zone).date()
    first_day = last_day - timedelta(days=days - 1)
    since = datetime.combine(first_day, time(0), tzinfo=zone).astimezone(UTC)
    return Period(
        days=days,
        since=since,
        until=now,
        first_day=first_day,
        last_day=last_day,
        zone=zone,
    )


@dataclass(frozen=True)
class Share:
    """How many stopped clocks met their target out of how many stopped."""

    met: int = 0
    total: int = 0

    @property
    def percent(self) -> float | None:
        return None if self.total == 0 else 100.0 * self.met / self.total

    def __add__(self, other: Share) -> Share:
        return Share(met=self.met + other.met, total=self.total + other.total)


@dataclass(frozen=True)
class ComplianceRow:
    key: str
    name: str
    shares: dict[str, Share]
    """Metric (first_response, resolution) to its share."""


@dataclass(frozen=True)
class ComplianceBucket:
    """One day, or one week starting on `start`, of the compliance chart."""

    start: date
    end: date
    shares: dict[str, Share]


@dataclass(frozen=True)
class Headline:
    open_tickets: int
    breached: int
    at_risk: int
    paused: int


# Local time in SQL


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """Return the zone's UTC offset in minutes at `start`, then each change up to `end`.

    The first item carries `start`; every later item is the exact instant (to the second)
    where the offset changed. The search steps an hour at a time, so it would miss two
    changes that fall within the same hour.
    """

    def offset(instant: datetime) -> int:
        value = instant.astimezone(zone).utcoffset()
        assert value is not None
        return int(value.total_seconds() // 60)

    # Aware arithmetic in a zone with DST runs on wall time, so the search runs in UTC.
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    changes = [(start, offset(start))]
    step = timedelta(hours=1)
    cursor = start
    while cursor < end:
        following = min(cursor + step, end)
        if offset(following) != changes[-1][1]:
            low, high = cursor, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if offset(middle) == changes[-1][1]:
                    low = middle
                else:
                    high = middle
            changes.append((high.replace(microsecond=0), offset(high)))
        cursor = following
    return changes


class LocalTime:
    """SQL expressions for the local date and hour of a UTC timestamp column.

    Build one per query with the period the column's values fall in, so the SQLite form
    contains every offset the zone uses there.
    """

    def __init__(self, dialect: str, zone: ZoneInfo, *, start: datetime, end: datetime) -> None:
        self.dialect = dialect
        self.zone = zone
        # A day of margin keeps values at the period's edges inside the known offsets.
        self._changes = offset_changes(zone, start - timedelta(days=1), end + timedelta(days=1))

    def _sqlite_modifier(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[str]:
        def modifier(minutes: int) -> str:
            return f"{minutes:+d} minutes"

        if len(self._changes) == 1:
            return literal(modifier(self._changes[0][1]))
        whens: list[tuple[ColumnElement[bool], str]] = []
        for (_, before), (changed_at, _) in zip(self._changes, self._changes[1:], strict=False):
            whens.append((column < changed_at, modifier(before)))
        return case(*whens, else_=modifier(self._changes[-1][1]))

    def day(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[Any]:
        """Return the local calendar date: a date on PostgreSQL, ``YYYY-MM-DD`` text on SQLite."""
        if self.dialect == "postgresql":
            return cast(func.timezone(self.zone.key, column), Date)
        return func.date(column, self._sqlite_modifier(column))

    def hour(self, column: SQLColumnExpression[datetime | None]) -> ColumnElement[int]:
        """Return the local hour of day, 0 to 23."""
        if self.dialect == "postgresql":
            return cast(extract("hour", func.timezone(self.zone.key, column)), Integer)
        return cast(func.strftime("%H", column, self._sqlite_modifier(column)), Integer)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


# Queries


def _met() -> ColumnElement[int]:
    return func.sum(case((SlaClock.breached_at.is_(None), 1), else_=0))


def _stopped_ticket_clocks(period: Period) -> list[ColumnElement[bool]]:
    """Return the conditions for ticket clocks with a target that stopped within the period."""
    return [
        SlaClock.task_id.is_(None),
        SlaClock.metric.in_(TICKET_METRICS),
        SlaClock.phase == STOPPED,
        SlaClock.target_seconds.is_not(None),
        SlaClock.stopped_at >= period.since,
        SlaClock.stopped_at <= period.until,
    ]


async def compliance_by(
    session: AsyncSession, workspace: Workspace, period: Period, *, group: GroupBy
) -> list[ComplianceRow]:
    """Return the share of met clocks per pipeline or per priority, in workspace order.

    Each row has a Share for both metrics, empty where no clock stopped.
    NOTE: a ticket counts under its priority now. An escalation that raised the priority
    on breach therefore moves that breach to the raised priority.
    """
    column = Ticket.pipeline if group == "pipeline" else Ticket.priority
    rows = await session.execute(
        select(column, SlaClock.metric, _met(), func.count())
        .join(Ticket, Ticket.id == SlaClock.ticket_id)
        .where(*_stopped_ticket_clocks(period))
        .group_by(column, SlaClock.metric)
    )
    found: dict[str, dict[str, Share]] = {}
    for key, metric, met, total in rows:
        found.setdefault(key, {})[metric] = Share(met=int(met or 0), total=int(total))

    if group == "pipeline":
        known = [(pipeline.key, pipeline.name) for pipeline in workspace.spec.pipelines]
    else:
        # Highest priority first, as supervisors read them.
        known = [(priority.key, priority.name) for priority in reversed(workspace.spec.priorities)]
    # Keys no longer in the workspace file still have history; they follow the known ones.
    names = dict(known)
    keys = [key for key, _ in known] + sorted(set(found) - set(names))
    return [
        ComplianceRow(
            key=key,
            name=names.get(key, key),
            shares={metric: found.get(key, {}).get(metric, Share()) for metric in TICKET_METRICS},
        )
        for key in keys
    ]


def total_row(rows: Sequence[ComplianceRow]) -> ComplianceRow:
    shares = {metric: Share() for metric in TICKET_METRICS}
    for row in rows:
        for metric in TICKET_METRICS:
            shares[metric] = shares[metric] + row.shares[metric]
    return ComplianceRow(key="all", name="All", shares=shares)


async def compliance_over_time(
    session: AsyncSession, period: Period, *, dialect: str
) -> list[ComplianceBucket]:
    """Return the period's days (or weeks from Monday, for long periods) with their shares.

    Every bucket of the period is present, empty where no clock stopped.
    """
    local = LocalTime(dialect, period.zone, start=period.since, end=period.until)
    day = local.day(SlaClock.stopped_at).label("local_day")
    rows = await session.execute(
        select(day, SlaClock.metric, _met(), func.count())
        .where(*_stopped_ticket_clocks(period))
        .group_by("local_day", SlaClock.metric)
    )
    per_day: dict[date, dict[str, Share]] = {}
    for value, metric, met, total in rows:
        shares = per_day.setdefault(_as_date(value), {})
        shares[metric] = shares.get(metric, Share()) + Share(met=int(met or 0), total=int(total))

    buckets: list[ComplianceBucket] = []
    start = period.first_day
    while start <= period.last_day:
        if period.by_week:
            end = min(start + timedelta(days=6 - start.weekday()), period.last_day)
        else:
            end = start
        shares = {metric: Share() for metric in TICKET_METRICS}
        current = start
        while current <= end:
            for metric, share in per_day.get(current, {}).items():
                shares[metric] = shares[metric] + share
            current += timedelta(days=1)
        buckets.append(ComplianceBucket(start=start, end=end, shares=shares))
        start = end + timedelta(days=1)
    return buckets


async def breaches_by_hour(session: AsyncSession, period: Period, *, dialect: str) -> list[int]:
    """Return 24 counts: breaches of every clock (ticket and task) per local hour of day."""
    local = LocalTime(dialect, period.zone, start=period.since, end=period.until)
    hour = local.hour(SlaClock.breached_at).label("local_hour")
    rows = await session.execute(
        select(hour, func.count())
        .where(SlaClock.breached_at >= period.since, SlaClock.breached_at <= period.until)
        .group_by("local_hour")
    )
    counts = [0] * 24
    for value, count in rows:
        counts[int(value)] += int(count)
    return counts


async def open_backlog(session: AsyncSession, workspace: Workspace) -> list[tuple[str, str, int]]:
    """Return (pipeline key, name, open tickets) for every pipeline, in workspace order."""
    rows = await session.execute(
        select(Ticket.pipeline, func.count())
        .where(Ticket.status.not_in(CLOSED_STATUSES))
        .group_by(Ticket.pipeline)
    )
    counts = {key: int(count) for key, count in rows}
    known = [(pipeline.key, pipeline.name) for pipeline in workspace.spec.pipelines]
    names = dict(known)
    extra = [(key, key) for key in sorted(set(counts) - set(names))]
    return [(key, name, counts.get(key, 0)) for key, name in known + extra]


async def headline(session: AsyncSession, *, now: datetime) -> Headline:
    """Count open tickets, and the clocks not stopped that are breached, at risk or paused.

    A running clock past its due counts as breached even before a worker fires the breach.
    Task clocks count as well as ticket clocks, but not the clocks of closed tickets.
    """
    open_tickets = await session.scalar(
        select(func.count()).select_from(Ticket).where(Ticket.status.not_in(CLOSED_STATUSES))
    )
    overdue = and_(
        SlaClock.phase == Phase.RUNNING.value, SlaClock.due_at.is_not(None), SlaClock.due_at <= now
    )
    breached = or_(SlaClock.breached_at.is_not(None), overdue)
    at_risk = and_(SlaClock.warned_at.is_not(None), ~breached)
    row = (
        await session.execute(
            select(
                func.sum(case((breached, 1), else_=0)),
                func.sum(case((at_risk, 1), else_=0)),
                func.sum(case((SlaClock.phase == Phase.PAUSED.value, 1), else_=0)),
            )
            .join(Ticket, Ticket.id == SlaClock.ticket_id)
            # NOTE: closing a ticket leaves its tasks' operational clocks running, and
            # closed tickets cannot change, so those clocks would otherwise count forever.
            .where(SlaClock.phase != STOPPED, Ticket.status != TicketStatus.CLOSED.value)
        )
    ).one()
    return Headline(
        open_tickets=int(open_tickets or 0),
        breached=int(row[0] or 0),
        at_risk=int(row[1] or 0),
        paused=int(row[2] or 0),
    )
