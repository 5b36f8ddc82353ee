"""Build the FastAPI application for one workspace and database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from opsdesk import __version__
from opsdesk.automation.views import router as automation_router
from opsdesk.clock import Clock, SystemClock
from opsdesk.console import admin as console_admin
from opsdesk.console import boards as console_boards
from opsdesk.console import dashboard as console_dashboard
from opsdesk.console import profile as console_profile
from opsdesk.console import queue as console_queue
from opsdesk.console import tasks as console_tasks
from opsdesk.console import tickets as console_tickets
from opsdesk.console.auth_views import router as console_auth_router
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.escalations.views import router as escalations_router
from opsdesk.live import views as live_views
from opsdesk.live.broadcaster import Broadcaster
from opsdesk.mail.views import BodyLimits
from opsdesk.mail.views import router as mail_router
from opsdesk.notifications.views import router as notifications_router
from opsdesk.portal import views as portal_views
from opsdesk.portal import widget as portal_widget
from opsdesk.settings import Settings
from opsdesk.sla.recompute import recompute_open_clocks
from opsdesk.sla.views import router as sla_router
from opsdesk.tasks.views import router as tasks_router
from opsdesk.tickets.views import router as tickets_router
from opsdesk.users.views import router as users_router
from opsdesk.web import errors
from opsdesk.web.cors import IntakeCors
from opsdesk.web.health import router as health_router
from opsdesk.web.metrics_views import RequestMetrics
from opsdesk.web.metrics_views import router as metrics_router
from opsdesk.web.ratelimit import (
    IntakeRateLimiter,
    RateLimiter,
    RateLimitMiddleware,
    SharedRateLimiter,
)
from opsdesk.web.security import SecurityHeaders
from opsdesk.web.templating import STATIC
from opsdesk.webhooks.inbound_views import router as inbound_router
from opsdesk.webhooks.service import sync_workspace_subscriptions
from opsdesk.webhooks.views import router as webhooks_router
from opsdesk.worker.runner import Worker
from opsdesk.workspace import Workspace
from opsdesk.workspace.views import router as workspace_router

logger = logging.getLogger(__name__)


def create_app(
    *,
    settings: Settings,
    workspace: Workspace,
    database: Database | None = None,
    clock: Clock | None = None,
    run_worker: bool = False,
) -> FastAPI:
    """Return the app. With `run_worker`, an in-process worker runs while the app is up."""
    db = database or Database(settings.database_url)
    ctx = Context(workspace=workspace, clock=clock or SystemClock(), settings=settings)
    broadcaster = Broadcaster(db)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with db.transaction() as session:
            await sync_workspace_subscriptions(session, workspace, at=ctx.clock.now())
        await recompute_open_clocks(db, ctx)
        stop = asyncio.Event()
        live_task = asyncio.create_task(broadcaster.run(stop), name="opsdesk-live")
        worker_task = None
        if run_worker:
            worker_task = asyncio.create_task(Worker(db, ctx).run(stop), name="opsdesk-worker")
        logger.info("serving workspace %r from %s", workspace.name, workspace.source)
        try:
            yield
        finally:
            stop.set()
            with suppress(asyncio.CancelledError):
                await live_task
            if worker_task is not None:
                with suppress(asyncio.CancelledError):
                    await worker_task
            if database is None:
                await db.dispose()

    app = FastAPI(
        title="Opsdesk API",
        version=__version__,
        description=(
            "Customer requests become tickets, operational tasks, SLA clocks and signed webhooks."
        ),
        lifespan=lifespan,
    )
    app.state.db = db
    app.state.ctx = ctx
    app.state.broadcaster = broadcaster
    rate_limiter: RateLimiter
    if db.dialect == "postgresql":
        rate_limiter = SharedRateLimiter.from_settings(settings, db.engine)
    else:
        rate_limiter = IntakeRateLimiter.from_settings(settings)
    app.state.rate_limiter = rate_limiter
    # Starlette runs the middleware added last first: metrics, CORS, security headers,
    # rate limit, body limit. So 429 pages get security headers and cross-origin callers
    # can read them.
    app.add_middleware(
        BodyLimits,
        max_bytes=settings.max_request_bytes,
        mail_max_bytes=settings.mail_max_message_bytes,
    )
    app.add_middleware(
        RateLimitMiddleware,
        limiter=app.state.rate_limiter,
        trusted_proxies=settings.trusted_proxies,
    )
    app.add_middleware(
        SecurityHeaders,
        widget_origins=list(workspace.spec.allowed_origins),
        secure=settings.base_url.startswith("https://"),
    )
    app.add_middleware(IntakeCors, allowed_origins=list(workspace.spec.allowed_origins))
    # Outermost, so rejected requests (413, 429) are counted and timed too.
    app.add_middleware(RequestMetrics)
    errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    for router in (
        console_auth_router,
        console_queue.router,
        console_tickets.router,
        console_tasks.router,
        console_dashboard.router,
        console_boards.router,
        console_admin.router,
        console_profile.router,
        live_views.router,
        portal_views.router,
        portal_widget.router,
        health_router,
        metrics_router,
        workspace_router,
        tickets_router,
        tasks_router,
        webhooks_router,
        sla_router,
        mail_router,
        automation_router,
        escalations_router,
        notifications_router,
        users_router,
        # After mail_router, whose /api/v1/inbound/email this router's path also matches.
        inbound_router,
    ):
        app.include_router(router)
    return app
