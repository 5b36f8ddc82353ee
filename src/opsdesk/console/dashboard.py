"""The supervisor dashboard: live SLA alerts, headline counts, compliance and charts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from opsdesk.console import charts, reports
from opsdesk.console.alerts import acknowledge, open_alerts
from opsdesk.console.deps import SupervisorStaff
from opsdesk.console.supervisor_export import router as export_router
from opsdesk.errors import InvalidInput
from opsdesk.web.deps import ContextDep, DatabaseDep
from opsdesk.web.templating import render

router = APIRouter(prefix="/console", include_in_schema=False)
router.include_router(export_router)

DEFAULT_PERIOD_DAYS = 30
METRIC_NAMES = {"first_response": "First response", "resolution": "Resolution"}
NO_STORE = {"Cache-Control": "no-store"}
# The backlog and hours charts share a row on wide screens, so a narrower viewBox keeps
# their text as large as that of the full-width chart.
HALF_CHART_WIDTH = 420.0


def parse_period(days: str | None) -> int:
    if days is None or days == "":
        return DEFAULT_PERIOD_DAYS
    allowed = ", ".join(str(value) for value in reports.PERIOD_DAYS)
    try:
        value = int(days)
    except ValueError:
        value = -1
    if value not in reports.PERIOD_DAYS:
        raise InvalidInput(
            f"invalid period {days!r}; choose {allowed} days",
            details=[{"field": "days", "message": f"choose {allowed}"}],
        )
    return value


def _compliance_chart(
    buckets: list[reports.ComplianceBucket], period: reports.Period
) -> charts.LineChart:
    labels = [f"{bucket.start:%d %b}" for bucket in buckets]
    unit = "week (from Monday)" if period.by_week else "day"
    series = [
        (
            metric,
            name,
            [bucket.shares[metric].percent for bucket in buckets],
        )
        for metric, name in METRIC_NAMES.items()
    ]
    return charts.percent_lines(
        id="chart-compliance",
        title="SLA compliance over time",
        description=(
            f"Share of first-response and resolution clocks that met their target, per {unit}, "
            f"{period.first_day:%d %b %Y} to {period.last_day:%d %b %Y}. "
            "Gaps are periods in which no clock stopped."
        ),
        labels=labels,
        series=series,
        label_every=max(1, len(labels) // 8),
    )


def _backlog_chart(backlog: list[tuple[str, str, int]]) -> charts.BarChart:
    return charts.horizontal_bars(
        id="chart-backlog",
        title="Open tickets per pipeline",
        description="Tickets neither resolved nor closed, counted per pipeline.",
        labels=[name for _, name, _ in backlog],
        values=[count for _, _, count in backlog],
        width=HALF_CHART_WIDTH,
    )


def _hours_chart(counts: list[int], period: reports.Period) -> charts.BarChart:
    return charts.vertical_bars(
        id="chart-breach-hours",
        title="Breaches by hour of day",
        description=(
            f"SLA breaches of tickets and tasks per hour of day in {period.zone.key} time, "
            f"{period.first_day:%d %b %Y} to {period.last_day:%d %b %Y}."
        ),
        labels=[f"{hour:02d}" for hour in range(24)],
        values=counts,
        width=HALF_CHART_WIDTH,
        label_every=3,
    )


@router.get("/dashboard", response_class=HTMLResponse)
async def dashboard(
    request: Request,
    db: DatabaseDep,
    ctx: ContextDep,
    staff: SupervisorStaff,
    days: str | None = None,
) -> Response:
    period_days = parse_period(days)
    now = ctx.clock.now()
    period = reports.period_ending(now, period_days, reports.workspace_zone(ctx.workspace))
    async with db.read() as session:
        summary = await reports.headline(session, now=now)
        alerts = await open_alerts(session, ctx)
        by_pipeline = await reports.compliance_by(session, ctx.workspace, period, group="pipeline")
        by_priority = await reports.compliance_by(session, ctx.workspace, period, group="priority")
        over_time = await reports.compliance_over_time(session, period, dialect=db.dialect)
        hours = await reports.breaches_by_hour(session, period, dialect=db.dialect)
        backlog = await reports.open_backlog(session, ctx.workspace)
    return render(
        request,
        "console/dashboard.html",
        {
            "staff": staff,
            "nav": "dashboard",
            "summary": summary,
            "alerts": alerts,
            "period": period,
            "periods": reports.PERIOD_DAYS,
            "metrics": METRIC_NAMES,
            "by_pipeline": by_pipeline,
            "by_priority": by_priority,
            "pipeline_total": reports.total_row(by_pipeline),
            "priority_total": reports.total_row(by_priority),
            "over_time": over_time,
            "hours": hours,
            "backlog": backlog,
            "compliance_chart": _compliance_chart(over_time, period),
            "backlog_chart": _backlog_chart(backlog),
            "hours_chart": _hours_chart(hours, period),
        },
        headers=NO_STORE,
    )


@router.get("/dashboard/alerts", response_class=HTMLResponse)
async def alerts_partial(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: SupervisorStaff
) -> Response:
    """Render the alerts panel alone; the dashboard re-reads it when SLA events arrive."""
    async with db.read() as session:
        alerts = await open_alerts(session, ctx)
    return render(
        request,
        "console/_supervisor_alerts.html",
        {"staff": staff, "alerts": alerts},
        headers=NO_STORE,
    )


@router.get("/dashboard/summary", response_class=HTMLResponse)
async def summary_partial(
    request: Request, db: DatabaseDep, ctx: ContextDep, staff: SupervisorStaff
) -> Response:
    """Render the headline counts alone; the dashboard re-reads them when events arrive."""
    async with db.read() as session:
        summary = await reports.headline(session, now=ctx.clock.now())
    return render(
        request,
        "console/_supervisor_summary.html",
        {"staff": staff, "summary": summary},
        headers=NO_STORE,
    )


@router.post("/dashboard/alerts/{clock_id}/acknowledge")
async def acknowledge_alert(
    clock_id: int, db: DatabaseDep, ctx: ContextDep, staff: SupervisorStaff
) -> Response:
    """Acknowledge one alert; an alert someone else acknowledged first is left as it is."""
    async with db.transaction() as session:
        await acknowledge(session, ctx, clock_id=clock_id, user=staff.user, at=ctx.clock.now())
    return RedirectResponse("/console/dashboard#alerts", status_code=303)
