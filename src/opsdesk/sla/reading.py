"""Read clocks for display: live values measured now, and the state people see."""

from __future__ import annotations

from datetime import datetime, timedelta

from opsdesk.calendars import BusinessCalendar
from opsdesk.sla.engine import Phase, measure
from opsdesk.sla.models import SlaClock
from opsdesk.sla.service import transitions_of
from opsdesk.tickets.schemas import ClockView


def clock_state(row: SlaClock, *, breached_now: bool) -> str:
    """running, paused, met or breached; a running clock past its due is breached."""
    if row.phase == Phase.STOPPED.value:
        return "breached" if row.breached_at is not None else "met"
    if row.breached_at is not None or breached_now:
        return "breached"
    return row.phase


def clock_view(
    row: SlaClock, calendar: BusinessCalendar, *, now: datetime, task: str | None
) -> ClockView:
    """Measure the clock at `now`; a paused clock shows the due it would have if resumed now."""
    target = None if row.target_seconds is None else timedelta(seconds=row.target_seconds)
    measurement = measure(transitions_of(row), calendar, target, max(now, row.started_at))
    due = row.due_override_at or measurement.due
    return ClockView(
        id=row.id,
        metric=row.metric,
        cycle=row.cycle,
        task=task,
        state=clock_state(row, breached_now=measurement.breached),
        target_seconds=row.target_seconds,
        due_at=due,
        warn_at=row.warn_at,
        started_at=row.started_at,
        stopped_at=row.stopped_at,
        warned_at=row.warned_at,
        breached_at=row.breached_at,
        business_seconds_elapsed=measurement.elapsed.total_seconds(),
        paused_business_seconds=measurement.paused.total_seconds(),
        calendar=row.calendar,
        policy=row.policy,
    )
