"""Every API operation, checked against the app's own OpenAPI document with Schemathesis.

For each operation Schemathesis generates valid and invalid requests from the document and
sends them to the app in this process (ASGI, no network). Each response must have no 5xx
status, a documented status code and content type, and a body that matches the
documented schema. Each operation is its own test on a fresh database that holds one
ticket (with its tasks and SLA clocks) and one webhook subscription. Path parameters are
sometimes replaced by the ids of those rows, so detail and update routes also return 200
and their success bodies are checked too.

The run is bounded and repeatable: generation is derandomized, the fuzzing phase stops at
MAX_EXAMPLES requests per operation, and no example database is written.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import hypothesis
import pytest
import schemathesis
from api_support import REQUEST, MakeUser
from fastapi import FastAPI
from hypothesis import strategies as st
from schemathesis.hooks import HookContext

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.settings import Settings
from opsdesk.tasks.service import task_reference
from opsdesk.tickets import service as tickets
from opsdesk.tickets.schemas import IntakeRequest
from opsdesk.web.app import create_app
from opsdesk.webhooks import service as webhooks
from opsdesk.workspace import load_workspace
from support import EXAMPLE_WORKSPACE

MAX_EXAMPLES = 20
"""Requests the fuzzing phase generates per operation and database. Schemathesis's coverage
phase sends its own fixed set of boundary cases on top."""

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)


WORKSPACE = load_workspace(EXAMPLE_WORKSPACE)

WORKSPACE_KEYS: dict[str, list[str]] = {
    "service_type": [service.key for service in WORKSPACE.spec.service_types],
    "contact_method": [method.key for method in WORKSPACE.spec.contact_methods],
    "priority": [priority.key for priority in WORKSPACE.spec.priorities],
    "team": [team.key for team in WORKSPACE.spec.teams],
    "stage": sorted(
        {stage.key for pipeline in WORKSPACE.spec.pipelines for stage in pipeline.stages}
    ),
}
"""Body fields whose valid values come from the workspace file. The document lists them
only as strings, so generated text almost never matches one."""


def _openapi_document() -> dict[str, Any]:
    """Build the document at import time, because the operations parametrize the test.

    It depends on the code and the workspace file only, so an app that never starts
    (and never opens its database) serves to build it.
    """
    settings = Settings(database_url="sqlite+aiosqlite://", base_url="http://testserver")
    return create_app(settings=settings, workspace=WORKSPACE).openapi()


CONFIG = schemathesis.Config.from_dict(
    {
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
        },
        "checks": {"enabled": False} | {name: {"enabled": True} for name in CHECKS},
    }
)
schema = schemathesis.openapi.from_dict(_openapi_document(), config=CONFIG)

# E-mail intake reads the raw message, so generated text is sent unchanged.
schemathesis.serializer.alias("message/rfc822", "text/plain")


@dataclass(frozen=True)
class Seeded:
    """Rows that exist before an operation's requests, and the path values that name them."""

    ticket: str
    task: str
    status_token: str
    clock_ids: list[int]
    subscription_id: str

    def path_values(self, path: str) -> dict[str, Any]:
        reference = self.task if path.startswith("/api/v1/tasks/") else self.ticket
        return {
            "reference": reference,
            "token": self.status_token,
            "clock_id": self.clock_ids[0],
            "subscription_id": self.subscription_id,
        }


# The `seeded` fixture puts the current test's rows here. The hooks below read it when
# Schemathesis draws each request, which is after the fixtures ran.
CURRENT_SEED: list[Seeded] = []


def _with_seeded_ids(
    operation_path: str, parameters: dict[str, Any] | None
) -> dict[str, Any] | None:
    # Operations without path parameters draw None.
    if not parameters or not CURRENT_SEED:
        return parameters
    known = CURRENT_SEED[-1].path_values(operation_path)
    return {name: known.get(name, value) for name, value in parameters.items()}


@schema.hook
def flatmap_path_parameters(
    context: HookContext, path_parameters: dict[str, Any] | None
) -> st.SearchStrategy[dict[str, Any] | None]:
    """Keep the generated path values, or put the seeded rows' ids in their place."""
    assert context.operation is not None
    seeded = _with_seeded_ids(context.operation.path, path_parameters)
    return st.sampled_from([path_parameters, seeded])


@schema.hook
def flatmap_body(context: HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Keep the generated body, or put workspace keys into the fields that take them.

    Without this, intake and stage moves would return 422 to nearly every request, and
    their success responses would go unchecked.
    """
    if not isinstance(body, dict):
        return st.just(body)
    fields = [name for name in body if name in WORKSPACE_KEYS]
    if not fields:
        return st.just(body)
    known = st.fixed_dictionaries({name: st.sampled_from(WORKSPACE_KEYS[name]) for name in fields})
    return st.one_of(st.just(body), known.map(lambda values: body | values))


@pytest.fixture
def settings(database_url: str) -> Settings:
    # The intake limit would turn most generated submissions into 429s and leave their
    # validation untested. The 429 response stays documented, and
    # tests/portal/test_rate_limits.py tests it.
    return Settings(
        database_url=database_url,
        base_url="http://testserver",
        rate_limit_address_burst=10_000,
        rate_limit_origin_burst=10_000,
        # Without it, e-mail intake returns 503 "not configured" for every message.
        mail_default_service_type="solar_repair",
    )


@pytest.fixture
async def seeded(db: Database, ctx: Context) -> AsyncIterator[Seeded]:
    intake = IntakeRequest.model_validate(REQUEST)
    async with db.transaction() as session:
        created = await tickets.create_ticket(
            session, ctx, tickets.NewTicket.from_intake(intake), channel="api"
        )
        # Without `ctx` the outbound guard does not resolve the host, so no DNS lookup.
        subscription = await webhooks.create_subscription(
            session,
            url="https://hooks.example.com/opsdesk",
            event_types=["ticket.created"],
            kind="webhook",
            secret=None,
            description="Seeded for the OpenAPI conformance test",
            at=ctx.clock.now(),
        )
        await session.flush()
        seed = Seeded(
            ticket=tickets.reference_of(ctx, created.ticket),
            task=task_reference(created.tasks[0]),
            status_token=created.status_token,
            clock_ids=[clock.id for clock in created.clocks],
            subscription_id=subscription.public_id,
        )
    CURRENT_SEED.append(seed)
    yield seed
    CURRENT_SEED.remove(seed)


@pytest.fixture
async def admin_headers(make_user: MakeUser) -> dict[str, str]:
    # An admin passes every role check, so no operation stops at 403.
    admin = await make_user("admin")
    return admin.headers


@pytest.fixture
def app(ctx: Context, seeded: Seeded) -> FastAPI:
    # The app opens its own database engine, because Schemathesis runs it on an event loop
    # of its own and the `db` fixture's pooled connections belong to the test's loop.
    return create_app(settings=ctx.settings, workspace=ctx.workspace, clock=ctx.clock)


@schema.parametrize()
# One app and database serve all examples of an operation, so later requests meet the
# rows that earlier ones created.
@hypothesis.settings(suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
def test_operation_conforms_to_openapi(
    case: schemathesis.Case, app: FastAPI, admin_headers: dict[str, str]
) -> None:
    case.call_and_validate(app=app, headers=admin_headers)
