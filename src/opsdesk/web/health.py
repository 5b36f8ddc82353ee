"""Liveness and readiness probes for process managers and load balancers."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from opsdesk.migrate import current_revision, head_revision
from opsdesk.web.deps import DatabaseDep

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and serving requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={
        503: {
            "description": "The database is unreachable, or its schema is not the revision "
            "this release expects."
        }
    },
)
async def readyz(db: DatabaseDep) -> JSONResponse:
    """The database answers and its schema is the one this release expects."""
    try:
        async with db.read() as session:
            await session.execute(text("SELECT 1"))
        revision = await current_revision(db.engine)
    except Exception as exc:
        return JSONResponse(
            {"status": "unavailable", "reason": f"database unreachable: {type(exc).__name__}"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
    expected = head_revision()
    if revision != expected:
        return JSONResponse(
            {
                "status": "unavailable",
                "reason": f"schema at {revision}, expected {expected}; run opsdesk migrate",
            },
            status_code=503,
        )
    return JSONResponse({"status": "ok", "schema": revision})
