"""HTTP route of the SLA scenario preview."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from opsdesk.sla.preview import preview
from opsdesk.sla.scenario import parse_scenario
from opsdesk.web.deps import Staff

router = APIRouter(prefix="/api/v1", tags=["sla"])


@router.post("/sla/preview")
async def preview_scenario(_user: Staff, scenario: dict[str, Any] = Body(...)) -> dict[str, Any]:  # noqa: B008
    """Compute an SLA scenario (the YAML scenario format, sent as JSON) without storing anything."""
    return preview(parse_scenario(scenario))
