"""Liveness, readiness and the Prometheus metrics page."""

from __future__ import annotations

from pathlib import Path

import httpx
from api_support import request_body, submit
from prometheus_client.parser import text_string_to_metric_families

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.metrics import REGISTRY
from opsdesk.migrate import head_revision
from opsdesk.web.app import create_app


def samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a metrics page, keyed by name and sorted labels."""
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_healthz_answers_without_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_the_schema_revision(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "schema": head_revision()}


async def test_readyz_unreachable_database_is_503(ctx: Context, tmp_path: Path) -> None:
    unreachable = Database(f"sqlite+aiosqlite:///{tmp_path}/missing-folder/opsdesk.db")
    app = create_app(settings=ctx.settings, workspace=ctx.workspace, database=unreachable)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/readyz")
    await unreachable.dispose()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["reason"].startswith("database unreachable")


async def test_readyz_unmigrated_schema_is_503(ctx: Context, tmp_path: Path) -> None:
    empty = Database(f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    app = create_app(settings=ctx.settings, workspace=ctx.workspace, database=empty)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/readyz")
    await empty.dispose()

    assert response.status_code == 503
    assert "run opsdesk migrate" in response.json()["reason"]


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    key = (
        "opsdesk_http_requests_total",
        (("method", "GET"), ("route", "/api/v1/requests/status/{token}"), ("status", "4xx")),
    )
    before = samples((await client.get("/metrics")).text).get(key, 0.0)

    await client.get("/api/v1/requests/status/no-such-token")
    await client.get("/api/v1/requests/status/another-unknown-token")
    page = (await client.get("/metrics")).text

    assert samples(page)[key] == before + 2
    assert 'route="/api/v1/requests/status/no-such-token"' not in page


async def test_metrics_label_rejected_requests_by_route(ctx: Context, db: Database) -> None:
    """A 429 or 413 is sent before routing and still counts under its route template."""
    settings = ctx.settings.model_copy(
        update={"rate_limit_address_burst": 1, "rate_limit_address_per_minute": 1 / 60}
    )
    app = create_app(settings=settings, workspace=ctx.workspace, database=db)
    intake = (("method", "POST"), ("route", "/api/v1/requests"))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as http,
    ):
        before = samples((await http.get("/metrics")).text)
        await submit(http)
        limited = await http.post("/api/v1/requests", json=request_body())
        too_large = await http.post(
            "/api/v1/tickets/SR-000001/replies",
            content=b"x" * (settings.max_request_bytes + 1),
            headers={"Content-Type": "application/json"},
        )
        await http.get("/no/such/page")
        page = (await http.get("/metrics")).text
    after = samples(page)

    def added(labels: tuple[tuple[str, str], ...]) -> float:
        key = ("opsdesk_http_requests_total", labels)
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert limited.status_code == 429
    assert too_large.status_code == 413
    assert added((*intake, ("status", "2xx"))) == 1
    assert added((*intake, ("status", "4xx"))) == 1
    replies = (("method", "POST"), ("route", "/api/v1/tickets/{reference}/replies"))
    assert added((*replies, ("status", "4xx"))) == 1
    assert added((("method", "GET"), ("route", "unmatched"), ("status", "4xx"))) == 1


async def test_metrics_show_tickets_open_clocks_and_outbox(client: httpx.AsyncClient) -> None:
    await submit(client)
    await submit(client, email="second@example.com")

    response = await client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    found = samples(response.text)
    assert found[("opsdesk_tickets_created_total", (("channel", "api"),))] == 2
    open_clocks = sum(
        value for (name, _), value in found.items() if name == "opsdesk_sla_open_clocks"
    )
    # Two tickets, each with first-response and resolution clocks and at least one task.
    assert open_clocks >= 6
    assert found[("opsdesk_outbox_depth", ())] > 0
    assert found[("opsdesk_sla_breaches_total", ())] == 0


async def test_metrics_are_snapshotted_between_scrapes(client: httpx.AsyncClient) -> None:
    await client.get("/metrics")
    await submit(client)

    found = samples((await client.get("/metrics")).text)

    # Counted at most every few seconds, so a scrape right after another reuses its figures.
    assert ("opsdesk_tickets_created_total", (("channel", "api"),)) not in found


def test_process_metrics_share_one_registry() -> None:
    names = {family.name for family in REGISTRY.collect()}

    assert {
        "opsdesk_http_requests",
        "opsdesk_sla_due_lag_seconds",
        "opsdesk_webhook_attempts",
        "opsdesk_webhook_attempt_seconds",
    } <= names


async def test_unexpected_error_gets_the_documented_json_body(ctx: Context, db: Database) -> None:
    app = create_app(settings=ctx.settings, workspace=ctx.workspace, database=db)

    @app.get("/api/v1/test-defect")
    async def defect() -> None:
        raise RuntimeError("a defect")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.get("/api/v1/test-defect")

    assert response.status_code == 500
    assert response.json() == {"error": {"code": "internal_error", "message": "internal error"}}
