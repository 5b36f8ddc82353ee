"""Ids of a new ticket's rows: reserved in one query on PostgreSQL, none wasted."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.models import SlaClock
from opsdesk.tasks.models import Task
from opsdesk.tickets import service as tickets
from opsdesk.workspace import parse_workspace
from support import EXAMPLE_WORKSPACE

HVAC_SLA = (
    "    operational_sla:\n      targets: {low: PT32H, medium: PT20H, high: PT10H, urgent: PT4H}\n"
)


@pytest.fixture(params=["example", "varied"])
def id_ctx(request: pytest.FixtureRequest, ctx: Context, clock: FrozenClock) -> Context:
    """The example workspace, or a variant with next-response cycles from creation on
    site visits and an HVAC pipeline without an operational SLA."""
    if request.param == "example":
        return ctx
    text = EXAMPLE_WORKSPACE.read_text()
    text = text.replace(
        "    when: {contact_method: site_visit}\n",
        "    when: {contact_method: site_visit}\n    next_response_from_creation: true\n",
        1,
    )
    assert HVAC_SLA in text
    workspace = parse_workspace(text.replace(HVAC_SLA, "", 1), source="varied.yaml")
    return Context(workspace=workspace, clock=clock, settings=ctx.settings)


def new_ticket(service_type: str, contact_method: str) -> tickets.NewTicket:
    return tickets.NewTicket(
        name="Ada Obi",
        email="ada@example.com",
        phone="+234 803 555 0101",
        service_type=service_type,
        contact_method=contact_method,
        priority="high",
        subject="Ids",
        description="One ticket of each kind.",
        site_address="12 Admiralty Way, Lekki, Lagos",
    )


async def test_new_ticket_wastes_no_ids(db: Database, id_ctx: Context) -> None:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = db.engine.sync_engine
    for service in id_ctx.workspace.spec.service_types:
        for method in ("email", "site_visit"):
            statements.clear()
            event.listen(engine, "before_cursor_execute", record)
            try:
                async with db.transaction() as session:
                    await tickets.create_ticket(
                        session, id_ctx, new_ticket(service.key, method), channel="api"
                    )
            finally:
                event.remove(engine, "before_cursor_execute", record)
            if db.dialect == "postgresql":
                reads = [statement for statement in statements if "nextval" in statement]
                assert len(reads) == 1, (service.key, method, reads)

    async with db.read() as session:
        task_ids = list((await session.scalars(select(Task.id).order_by(Task.id))).all())
        clocks = (await session.execute(select(SlaClock.id, SlaClock.metric))).all()
    clock_ids = sorted(clock_id for clock_id, _ in clocks)
    # No gaps: an id reserved and not used would show as a missing number.
    assert task_ids == list(range(task_ids[0], task_ids[0] + len(task_ids)))
    assert clock_ids == list(range(clock_ids[0], clock_ids[0] + len(clock_ids)))
    tasks_with_clocks = sum(1 for _, metric in clocks if metric == "operational")
    varied = id_ctx.workspace.source == "varied.yaml"
    assert any(metric == "next_response" for _, metric in clocks) == varied
    assert (tasks_with_clocks < len(task_ids)) == varied
