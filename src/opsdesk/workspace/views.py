"""The public description of the workspace that the portal and widget build their forms from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from opsdesk.web.deps import ContextDep

router = APIRouter(prefix="/api/v1", tags=["workspace"])


@router.get("/workspace")
async def workspace(ctx: ContextDep) -> dict[str, Any]:
    spec = ctx.workspace.spec
    return {
        "name": spec.name,
        "service_types": [
            {
                "key": service.key,
                "name": service.name,
                "pipeline": service.pipeline,
                "description": service.description,
            }
            for service in spec.service_types
        ],
        "contact_methods": [
            {
                "key": method.key,
                "name": method.name,
                "requires_phone": method.requires_phone,
                "requires_site_address": method.requires_site_address,
            }
            for method in spec.contact_methods
        ],
        "priorities": [
            {"key": priority.key, "name": priority.name} for priority in spec.priorities
        ],
        "default_priority": spec.default_priority,
    }
