"""The application factory that uvicorn imports when `opsdesk serve` runs several processes.

Each process builds its own app from the environment: `OPSDESK_WORKSPACE` names the
workspace file and `OPSDESK_SERVE_WORKER` sets whether an in-process worker runs beside it.
"""

from __future__ import annotations

from fastapi import FastAPI

from opsdesk.logs import configure_logging
from opsdesk.settings import get_settings
from opsdesk.web.app import create_app
from opsdesk.workspace import load_workspace


def create_from_environment() -> FastAPI:
    settings = get_settings()
    # uvicorn starts each process afresh, so the logging the parent set up is not here.
    configure_logging(settings.log_level)
    workspace = load_workspace(settings.workspace)
    return create_app(settings=settings, workspace=workspace, run_worker=settings.serve_worker)
