"""GET /metrics in the Prometheus text format, and the middleware that counts requests."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsdesk.db import Database
from opsdesk.escalations.models import EscalationFiring
from opsdesk.events.models import OutboxEvent
from opsdesk.metrics import HTTP_REQUESTS, HTTP_SECONDS, REGISTRY
from opsdesk.sla.models import SlaClock
from opsdesk.tickets.models import Ticket
from opsdesk.web.deps import DatabaseDep
from opsdesk.web.ratelimit import LIMITED_TEMPLATES
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery

router = APIRouter(tags=["health"])

SNAPSHOT_SECONDS = 10.0
"""Database figures are counted at most this often; scrapes in between reuse them."""


@dataclass
class Snapshot:
    taken: float = 0.0
    tickets: dict[str, int] = field(default_factory=dict)
    open_clocks: dict[tuple[str, str], int] = field(default_factory=dict)
    breaches: int = 0
    escalations: int = 0
    outbox_pending: int = 0
    rules_pending: int = 0
    deliveries: dict[str, int] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    next_due_lag: float = 0.0


async def _take(db: Database) -> Snapshot:
    snapshot = Snapshot(taken=time.monotonic())
    async with db.read() as session:
        snapshot.tickets = dict(
            (
                await session.execute(select(Ticket.channel, func.count()).group_by(Ticket.channel))
            ).all()
        )
        rows = await session.execute(
            select(SlaClock.metric, SlaClock.phase, func.count())
            .where(SlaClock.phase != "stopped")
            .group_by(SlaClock.metric, SlaClock.phase)
        )
        snapshot.open_clocks = {(metric, phase): count for metric, phase, count in rows.all()}
        snapshot.breaches = (
            await session.execute(
                select(func.count()).select_from(SlaClock).where(SlaClock.breached_at.is_not(None))
            )
        ).scalar_one()
        snapshot.escalations = (
            await session.execute(select(func.count()).select_from(EscalationFiring))
        ).scalar_one()
        snapshot.outbox_pending = (
            await session.execute(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.dispatched_at.is_(None))
            )
        ).scalar_one()
        snapshot.rules_pending = (
            await session.execute(
                select(func.count())
                .select_from(OutboxEvent)
                .where(OutboxEvent.rules_done_at.is_(None))
            )
        ).scalar_one()
        snapshot.deliveries = dict(
            (
                await session.execute(
                    select(WebhookDelivery.status, func.count()).group_by(WebhookDelivery.status)
                )
            ).all()
        )
        snapshot.attempts = dict(
            (
                await session.execute(
                    select(WebhookAttempt.outcome, func.count()).group_by(WebhookAttempt.outcome)
                )
            ).all()
        )
        oldest_due = (
            await session.execute(
                select(func.min(SlaClock.next_fire_at)).where(SlaClock.next_fire_at.is_not(None))
            )
        ).scalar()
    if oldest_due is not None:
        snapshot.next_due_lag = max(0.0, (datetime.now(UTC) - oldest_due).total_seconds())
    return snapshot


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        snapshot = self.snapshot
        tickets = CounterMetricFamily(
            "opsdesk_tickets_created", "Tickets created, by channel.", labels=["channel"]
        )
        for channel, count in snapshot.tickets.items():
            tickets.add_metric([channel], count)
        yield tickets
        clocks = GaugeMetricFamily(
            "opsdesk_sla_open_clocks", "SLA clocks not yet stopped.", labels=["metric", "phase"]
        )
        for (metric, phase), count in snapshot.open_clocks.items():
            clocks.add_metric([metric, phase], count)
        yield clocks
        yield CounterMetricFamily(
            "opsdesk_sla_breaches", "SLA clocks that breached.", value=snapshot.breaches
        )
        yield CounterMetricFamily(
            "opsdesk_escalations", "Escalation steps fired.", value=snapshot.escalations
        )
        yield GaugeMetricFamily(
            "opsdesk_sla_overdue_seconds",
            "How long the most overdue pending SLA firing has waited; over 1 s means workers lag.",
            value=snapshot.next_due_lag,
        )
        yield GaugeMetricFamily(
            "opsdesk_outbox_depth",
            "Events not yet fanned out to subscribers.",
            value=snapshot.outbox_pending,
        )
        yield GaugeMetricFamily(
            "opsdesk_rules_backlog",
            "Events not yet run through automation rules.",
            value=snapshot.rules_pending,
        )
        deliveries = GaugeMetricFamily(
            "opsdesk_webhook_deliveries", "Webhook deliveries by status.", labels=["status"]
        )
        for status, count in snapshot.deliveries.items():
            deliveries.add_metric([status], count)
        yield deliveries
        attempts = CounterMetricFamily(
            "opsdesk_webhook_attempts_recorded",
            "Webhook attempts recorded by all processes, by outcome.",
            labels=["outcome"],
        )
        for outcome, count in snapshot.attempts.items():
            attempts.add_metric([outcome], count)
        yield attempts


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request, db: DatabaseDep) -> Response:
    snapshot: Snapshot | None = getattr(request.app.state, "metrics_snapshot", None)
    if snapshot is None or time.monotonic() - snapshot.taken > SNAPSHOT_SECONDS:
        snapshot = request.app.state.metrics_snapshot = await _take(db)
    shared = CollectorRegistry(auto_describe=False)
    shared.register(_SnapshotCollector(snapshot))
    return Response(
        generate_latest(REGISTRY) + generate_latest(shared), media_type=CONTENT_TYPE_LATEST
    )


class RequestMetrics:
    """Count requests and time them by route template (``/api/v1/tickets/{reference}``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            route = _route_template(scope)
            HTTP_REQUESTS.labels(scope["method"], route, f"{status // 100}xx").inc()
            HTTP_SECONDS.labels(route).observe(time.perf_counter() - started)


def _route_template(scope: Scope) -> str:
    # The router records the route it matched in the scope. Labelling by its template
    # keeps one series per route, not one per ticket reference or token.
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    # A middleware responded before routing: a 413 or 415 on an API route, or a 429.
    app = scope.get("app")
    if isinstance(app, FastAPI):
        for pattern, template in _unrouted_patterns(app):
            if pattern.match(scope["path"]):
                return template
    return "unmatched"


def _unrouted_patterns(app: FastAPI) -> list[tuple[re.Pattern[str], str]]:
    """Patterns of the routes a middleware can reject requests to: the API and the limited forms.

    Built once per app from its OpenAPI paths, fixed paths first, so that a path such as
    ``/api/v1/tickets/export`` is not taken for ``/api/v1/tickets/{reference}``.
    """
    patterns: list[tuple[re.Pattern[str], str]] | None = getattr(
        app.state, "unrouted_patterns", None
    )
    if patterns is None:
        templates = set(app.openapi().get("paths", {}))
        templates.update(template for _, template in LIMITED_TEMPLATES)
        ordered = sorted(templates, key=lambda template: (template.count("{"), template))
        patterns = [(compile_path(template)[0], template) for template in ordered]
        app.state.unrouted_patterns = patterns
    return patterns
