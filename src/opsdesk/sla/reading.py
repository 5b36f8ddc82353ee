"""Read clocks for display: live values measured now, and the state people see."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from opsdesk.calendars import BusinessCalendar
from opsdesk.sla.engine import Phase, measure
from opsdesk.sla.models import SlaClock
from opsdesk.sla.service import transitions_of
from opsdesk.tasks.models import Task
from opsdesk.tickets.schemas import ClockView, ResolutionRisk


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
    due = row.due_override_at if row.due_override_at is not None else measurement.due
    breached_now = due is not None and measurement.end > due
    return ClockView(
        id=row.id,
        metric=row.metric,
        cycle=row.cycle,
        task=task,
        state=clock_state(row, breached_now=breached_now),
        target_seconds=row.target_seconds,
        due_at=due,
        due_override_at=row.due_override_at,
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


def resolution_risks(
    resolution: ClockView | None, tasks: list[tuple[Task, str, ClockView]]
) -> list[ResolutionRisk]:
    """Return the open tasks that put the ticket's resolution at risk, soonest due first.

    A task is a risk when its operational clock breached or warned, or when its due falls
    after the ticket's resolution due, because the ticket cannot be resolved before its
    field work is done.
    """
    resolution_due = (
        resolution.due_at if resolution is not None and resolution.state != "met" else None
    )
    risks = []
    for task, reference, clock in tasks:
        if task.completed_at is not None:
            continue
        if clock.state == "breached":
            reason = "operational SLA breached"
        elif (
            resolution_due is not None
            and clock.due_at is not None
            and clock.due_at > resolution_due
        ):
            reason = "operational due is after the ticket's resolution due"
        elif clock.warned_at is not None:
            reason = "operational SLA warning: most of its target is used"
        else:
            continue
        risks.append(
            ResolutionRisk(
                task=reference,
                title=task.title,
                reason=reason,
                operational_due=clock.due_at,
                resolution_due=resolution_due,
            )
        )
    far_future = datetime.max.replace(tzinfo=UTC)
    return sorted(risks, key=lambda risk: risk.operational_due or far_future)
