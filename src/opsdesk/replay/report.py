"""The SLA report of a replay, computed from what the replay stored."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.escalations.models import EscalationFiring
from opsdesk.sla.models import SlaClock
from opsdesk.tickets.models import Ticket


def percentile(values: list[float], share: float) -> float | None:
    """Return the nearest-rank percentile of `values`, or None if there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


@dataclass
class PriorityFigures:
    tickets: int = 0
    first_response_met: int = 0
    first_response_breached: int = 0
    resolution_met: int = 0
    resolution_breached: int = 0
    unresolved_at_end: int = 0
    median_business_hours_to_resolve: float | None = None
    p90_business_hours_to_resolve: float | None = None
    escalations: int = 0
    agreement: float | None = None
    """Share of tickets whose resolution verdict (breached or not) equals the log's made_sla."""
    agreeing: int = 0


@dataclass
class ReplayReport:
    source: str
    database: str
    incidents: int
    events: int
    skipped_events: dict[str, int]
    first_event_at: str | None
    last_event_at: str | None
    wall_seconds: float
    events_per_second: float
    by_priority: dict[str, PriorityFigures] = field(default_factory=dict)
    total: PriorityFigures = field(default_factory=PriorityFigures)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


async def build_figures(
    session: AsyncSession, *, priorities: list[str], made_sla: dict[str, bool]
) -> tuple[dict[str, PriorityFigures], PriorityFigures]:
    """Group the replayed tickets by their final priority and count SLA outcomes."""
    figures = {priority: PriorityFigures() for priority in priorities}
    hours: dict[str, list[float]] = defaultdict(list)
    rows = await session.execute(
        select(
            Ticket.id,
            Ticket.priority,
            Ticket.external_ref,
            SlaClock.metric,
            SlaClock.phase,
            SlaClock.breached_at,
            SlaClock.elapsed_seconds,
        )
        .join(SlaClock, SlaClock.ticket_id == Ticket.id)
        .where(SlaClock.task_id.is_(None), SlaClock.metric.in_(["first_response", "resolution"]))
    )
    seen: set[int] = set()
    for ticket_id, priority, external_ref, metric, phase, breached_at, elapsed in rows.all():
        entry = figures.setdefault(priority, PriorityFigures())
        if ticket_id not in seen:
            seen.add(ticket_id)
            entry.tickets += 1
        breached = breached_at is not None
        if metric == "first_response":
            if breached:
                entry.first_response_breached += 1
            elif phase == "stopped":
                entry.first_response_met += 1
            continue
        if breached:
            entry.resolution_breached += 1
        elif phase == "stopped":
            entry.resolution_met += 1
        if phase == "stopped":
            hours[priority].append(elapsed / 3600)
        else:
            entry.unresolved_at_end += 1
        if external_ref in made_sla and made_sla[external_ref] != breached:
            entry.agreeing += 1

    escalations = await session.execute(
        select(Ticket.priority, func.count(EscalationFiring.id))
        .join(SlaClock, SlaClock.id == EscalationFiring.clock_id)
        .join(Ticket, Ticket.id == SlaClock.ticket_id)
        .group_by(Ticket.priority)
    )
    for priority, count in escalations.all():
        figures.setdefault(priority, PriorityFigures()).escalations = count

    total = PriorityFigures()
    all_hours: list[float] = []
    for priority, entry in figures.items():
        entry.median_business_hours_to_resolve = _round(percentile(hours[priority], 0.5))
        entry.p90_business_hours_to_resolve = _round(percentile(hours[priority], 0.9))
        entry.agreement = round(entry.agreeing / entry.tickets, 4) if entry.tickets else None
        all_hours.extend(hours[priority])
        for name in (
            "tickets",
            "first_response_met",
            "first_response_breached",
            "resolution_met",
            "resolution_breached",
            "unresolved_at_end",
            "escalations",
            "agreeing",
        ):
            setattr(total, name, getattr(total, name) + getattr(entry, name))
    total.median_business_hours_to_resolve = _round(percentile(all_hours, 0.5))
    total.p90_business_hours_to_resolve = _round(percentile(all_hours, 0.9))
    total.agreement = round(total.agreeing / total.tickets, 4) if total.tickets else None
    return figures, total


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def format_text(report: ReplayReport) -> str:
    lines = [
        f"Replay of {report.source}",
        f"  {report.incidents} incidents, {report.events} events in {report.wall_seconds:.1f} s "
        f"({report.events_per_second:.0f} events/s) on {report.database}",
        f"  log spans {report.first_event_at} to {report.last_event_at}",
    ]
    if any(report.skipped_events.values()):
        skipped = ", ".join(
            f"{count} {reason}" for reason, count in report.skipped_events.items() if count
        )
        lines.append(f"  events not applied: {skipped}")
    header = (
        f"  {'priority':<10}{'tickets':>8}{'FR met':>8}{'FR miss':>8}{'res met':>8}{'res miss':>9}"
        f"{'open':>6}{'median h':>10}{'p90 h':>9}{'escal.':>8}{'agree':>7}"
    )
    lines += ["", header]
    rows = [*report.by_priority.items(), ("all", report.total)]
    for priority, entry in rows:
        agreement = f"{entry.agreement:.1%}" if entry.agreement is not None else "-"
        median = (
            f"{entry.median_business_hours_to_resolve:.1f}"
            if entry.median_business_hours_to_resolve is not None
            else "-"
        )
        p90 = (
            f"{entry.p90_business_hours_to_resolve:.1f}"
            if entry.p90_business_hours_to_resolve is not None
            else "-"
        )
        lines.append(
            f"  {priority:<10}{entry.tickets:>8}"
            f"{entry.first_response_met:>8}{entry.first_response_breached:>8}"
            f"{entry.resolution_met:>8}{entry.resolution_breached:>9}{entry.unresolved_at_end:>6}"
            f"{median:>10}{p90:>9}{entry.escalations:>8}{agreement:>7}"
        )
    lines.append("")
    lines.append(
        "  agree: share of incidents whose Opsdesk resolution verdict equals the log's made_sla. "
        "Hours are business hours on the workspace calendar."
    )
    return "\n".join(lines)
