"""Rule conditions on task fields: which events carry a task, matching, and validation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from opsdesk.automation.engine import matches
from opsdesk.automation.facts import TASK_FIELDS, task_number_of_event
from opsdesk.automation.jobs import run_event_rules
from opsdesk.automation.schema import Rule
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import WorkspaceError
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.tasks import service as tasks
from opsdesk.tasks.models import Task
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket, TimelineEntry
from opsdesk.tickets.references import TASK_PREFIX, format_reference
from opsdesk.users import service as users
from opsdesk.workspace import Workspace, parse_workspace
from support import EXAMPLE_WORKSPACE

RULES = """
rules:
  - key: parts_wait
    name: Tag solar work waiting for parts
    on: [task.stage_changed]
    when:
      all:
        - {field: task.pipeline, equals: solar}
        - {field: task.stage, equals: waiting_parts}
    actions:
      - {action: add_tag, tag: parts}
  - key: urgent_task
    name: Tag urgent field work
    on: [task.created]
    when: {field: task.priority, in: [high, urgent]}
    actions:
      - {action: add_tag, tag: urgent_work}
  - key: taken_by_ike
    name: Tag work that Ike took
    on: [task.updated]
    when: {field: task.assignee, equals: ike@example.com}
    actions:
      - {action: add_tag, tag: ike}
  - key: field_breach
    name: Count breaches of field work
    on: [sla.breached]
    when:
      all:
        - {field: task.stage, exists: true}
        - {field: task.assignee, exists: false}
    actions:
      - {action: add_note, text: Field work breached without an assignee.}
  - key: ticket_only
    name: Tag ticket events that are not about a task
    on: [ticket.created, task.created]
    when: {field: task.template, exists: false}
    actions:
      - {action: add_tag, tag: ticket_event}
"""


def without_escalations(text: str) -> str:
    # The example's breach escalation raises the priority, which would move the task's due.
    start = text.index("\nescalations:\n")
    end = text.index("\nsubscriptions:\n")
    return text[:start] + text[end:]


@pytest.fixture
def task_workspace() -> Workspace:
    text = without_escalations(EXAMPLE_WORKSPACE.read_text()) + RULES
    return parse_workspace(text, source="task-rules.yaml")


@pytest.fixture
def task_ctx(task_workspace: Workspace, clock: FrozenClock, ctx: Context) -> Context:
    return Context(workspace=task_workspace, clock=clock, settings=ctx.settings)


def request(**overrides: Any) -> tickets.NewTicket:
    values: dict[str, Any] = {
        "name": "Ada Obi",
        "email": "ada@example.com",
        "phone": "+234 803 555 0101",
        "service_type": "solar_repair",
        "contact_method": "email",
        "priority": "medium",
        "subject": "Inverter trips",
        "description": "Every hour.",
    }
    return tickets.NewTicket(**(values | overrides))


async def create(db: Database, ctx: Context, **overrides: Any) -> tuple[int, int]:
    """Create a ticket; return its id and the id of its first task."""
    async with db.transaction() as session:
        created = await tickets.create_ticket(session, ctx, request(**overrides), channel="api")
        return created.ticket.id, created.tasks[0].id


async def drain(db: Database, ctx: Context) -> None:
    for _ in range(20):
        if await run_event_rules(db, ctx) == 0:
            return
    raise AssertionError("rules kept producing events")


async def move(db: Database, ctx: Context, task_id: int, stage: str) -> None:
    async with db.transaction() as session:
        task = await session.get(Task, task_id)
        assert task is not None
        ticket = await session.get(Ticket, task.ticket_id)
        assert ticket is not None
        await tasks.move_task(session, ctx, task, ticket, stage=stage, actor="test")


async def tags_of(db: Database, ticket_id: int) -> list[str]:
    async with db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        assert ticket is not None
        return list(ticket.tags)


async def rule_runs(db: Database, ticket_id: int, rule_key: str) -> list[TimelineEntry]:
    async with db.read() as session:
        rows = (
            await session.execute(
                select(TimelineEntry)
                .where(TimelineEntry.ticket_id == ticket_id, TimelineEntry.kind == "rule.ran")
                .order_by(TimelineEntry.id)
            )
        ).scalars()
        return [row for row in rows if row.data.get("rule") == rule_key]


@pytest.mark.parametrize(
    ("event_type", "payload", "expected"),
    [
        ("task.created", {"reference": "TK-000004", "ticket": "SR-000001"}, 4),
        ("task.stage_changed", {"reference": "TK-000012"}, 12),
        ("task.completed", {"reference": "TK-000012"}, 12),
        ("sla.breached", {"reference": "SR-000001", "task": "TK-000007"}, 7),
        ("sla.warning", {"reference": "SR-000001", "task": None}, None),
        ("escalation.triggered", {"reference": "SR-000001", "task": "TK-000002"}, 2),
        ("ticket.created", {"reference": "SR-000001", "task": "TK-000002"}, None),
        ("task.updated", {"reference": "not a reference"}, None),
        ("task.updated", {}, None),
    ],
)
def test_task_of_event(event_type: str, payload: dict[str, Any], expected: int | None) -> None:
    assert task_number_of_event(event_type, payload) == expected


def test_task_fields_without_task_do_not_match() -> None:
    facts = dict.fromkeys(TASK_FIELDS)
    rule = Rule.model_validate(
        {
            "key": "r",
            "name": "r",
            "on": ["task.updated"],
            "actions": [{"action": "add_tag", "tag": "x"}],
            "when": {"field": "task.stage", "equals": "todo"},
        }
    )
    absent = Rule.model_validate(
        rule.model_dump(by_alias=True, exclude_none=True)
        | {"when": {"field": "task.assignee", "exists": False}}
    )

    assert matches(rule.when, facts) is False
    assert matches(absent.when, facts) is True


async def test_stage_condition_matches_the_moved_task(db: Database, task_ctx: Context) -> None:
    ticket_id, task_id = await create(db, task_ctx)
    await move(db, task_ctx, task_id, "scheduled")
    await drain(db, task_ctx)
    assert "parts" not in await tags_of(db, ticket_id)

    await move(db, task_ctx, task_id, "waiting_parts")
    await drain(db, task_ctx)

    assert "parts" in await tags_of(db, ticket_id)
    runs = await rule_runs(db, ticket_id, "parts_wait")
    assert len(runs) == 1
    assert runs[0].task_id == task_id
    assert f"task.stage_changed of task {format_reference(TASK_PREFIX, task_id)}" in runs[0].message


async def test_stage_condition_checks_the_pipeline(db: Database, task_ctx: Context) -> None:
    ticket_id, task_id = await create(db, task_ctx, service_type="hvac_repair")
    await move(db, task_ctx, task_id, "waiting_parts")
    await drain(db, task_ctx)
    assert "parts" not in await tags_of(db, ticket_id)


async def test_priority_condition_on_task_created(db: Database, task_ctx: Context) -> None:
    high_ticket, _ = await create(db, task_ctx, priority="high")
    low_ticket, _ = await create(db, task_ctx, priority="low")
    await drain(db, task_ctx)
    assert "urgent_work" in await tags_of(db, high_ticket)
    assert "urgent_work" not in await tags_of(db, low_ticket)


async def test_assignee_condition_on_task_updated(db: Database, task_ctx: Context) -> None:
    ticket_id, task_id = await create(db, task_ctx)
    known_teams = [team.key for team in task_ctx.workspace.spec.teams]
    async with db.transaction() as session:
        ike = await users.create_user(
            session,
            email="ike@example.com",
            name="Ike",
            role="technician",
            teams=["solar_crew"],
            known_teams=known_teams,
            at=task_ctx.clock.now(),
        )
        bola = await users.create_user(
            session,
            email="bola@example.com",
            name="Bola",
            role="technician",
            teams=["solar_crew"],
            known_teams=known_teams,
            at=task_ctx.clock.now(),
        )
    for assignee in (bola, ike):
        async with db.transaction() as session:
            task = await session.get(Task, task_id)
            ticket = await session.get(Ticket, ticket_id)
            assert task is not None
            assert ticket is not None
            await tasks.assign_task(
                session, task_ctx, task, ticket, actor="test", assignee=assignee
            )
        await drain(db, task_ctx)
        expected = assignee is ike
        assert ("ike" in await tags_of(db, ticket_id)) is expected


async def test_ticket_events_have_no_task_fields(db: Database, task_ctx: Context) -> None:
    # One ticket with one task: ticket.created has no template, task.created has one.
    ticket_id, _ = await create(db, task_ctx)
    await drain(db, task_ctx)

    runs = await rule_runs(db, ticket_id, "ticket_only")
    assert len(runs) == 1
    assert runs[0].task_id is None
    assert "ran on ticket.created" in runs[0].message


async def test_breach_of_task_clock_carries_task(
    db: Database, task_ctx: Context, clock: FrozenClock
) -> None:
    ticket_id, task_id = await create(db, task_ctx)
    await drain(db, task_ctx)
    # Far past every due: the ticket's first response and resolution clocks and the task's
    # operational clock all breach, each with its own sla.breached event.
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    assert await fire_due_clocks(db, task_ctx) >= 3
    await drain(db, task_ctx)

    runs = await rule_runs(db, ticket_id, "field_breach")
    assert len(runs) == 1
    assert runs[0].task_id == task_id
    assert "sla.breached of task" in runs[0].message


def workspace_errors(rules: str) -> list[str]:
    text = EXAMPLE_WORKSPACE.read_text() + rules
    with pytest.raises(WorkspaceError) as raised:
        parse_workspace(text, source="desk.yaml")
    return [line.strip() for line in str(raised.value).splitlines()[1:]]


def test_workspace_rejects_unknown_task_values() -> None:
    errors = workspace_errors(
        """
rules:
  - key: bad_values
    name: Bad values
    on: [task.stage_changed]
    when:
      all:
        - {field: task.stage, equals: doing}
        - {field: task.pipeline, in: [solar, boats]}
        - {field: task.template, not_in: [nope]}
    actions: [{action: add_tag, tag: x}]
"""
    )

    assert len(errors) == 3
    assert errors[0].startswith(
        "rules[0].when.all[0].equals: unknown task stage 'doing'; expected one of done, "
    )
    assert errors[1].startswith("rules[0].when.all[1].in[1]: unknown task pipeline 'boats'")
    assert errors[2].startswith("rules[0].when.all[2].not_in[0]: unknown task template 'nope'")


def test_workspace_rejects_task_field_without_task_event() -> None:
    errors = workspace_errors(
        """
rules:
  - key: ticket_event
    name: Ticket event
    on: [ticket.created]
    when: {field: task.stage, equals: todo}
    actions: [{action: add_tag, tag: x}]
  - key: waiting
    name: Waiting rule
    after: {status: resolved, duration: PT1H}
    when: {any: [{field: task.assignee, exists: true}]}
    actions: [{action: add_tag, tag: x}]
"""
    )

    assert len(errors) == 2
    assert errors[0].startswith(
        "rules[0].when.field: task.stage has no value for ticket.created; task fields are "
        "set only for events about a task: add one of task.created,"
    )
    assert errors[1].startswith(
        "rules[1].when.any[0].field: task.assignee has no value in a rule that waits on a "
        "ticket status"
    )


def test_workspace_names_the_path_of_unknown_field() -> None:
    errors = workspace_errors(
        """
rules:
  - key: typo
    name: Typo
    on: [task.updated]
    when: {all: [{field: stage, equals: todo}]}
    actions: [{action: add_tag, tag: x}]
"""
    )

    assert len(errors) == 1
    assert errors[0].startswith("rules[0].when.all[0].field: input should be 'status',")
    assert "'task.stage'" in errors[0]


async def test_rules_api_names_the_path(client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")
    base = {
        "key": "task_rule",
        "name": "Task rule",
        "on": ["task.stage_changed"],
        "actions": [{"action": "add_tag", "tag": "x"}],
    }
    cases = [
        ({"all": [{"field": "task.stage", "equals": "doing"}]}, "when.all[0].equals", "doing"),
        ({"any": [{"field": "stage", "equals": "todo"}]}, "when.any[0].field", "task.stage"),
    ]
    for condition, path, mentioned in cases:
        response = await client.post(
            "/api/v1/rules", json=base | {"when": condition}, headers=admin.headers
        )
        assert response.status_code == 422, response.text
        fields = response.json()["error"]["fields"]
        assert [field["field"] for field in fields] == [path]
        assert mentioned in fields[0]["message"]

    ticket_rule = base | {
        "on": ["ticket.created"],
        "when": {"field": "task.assignee", "exists": False},
    }
    response = await client.post("/api/v1/rules", json=ticket_rule, headers=admin.headers)
    assert response.status_code == 422, response.text
    fields = response.json()["error"]["fields"]
    assert [field["field"] for field in fields] == ["when.field"]
    assert "task fields are set only for events about a task" in fields[0]["message"]

    valid = base | {"when": {"field": "task.stage", "equals": "waiting_parts"}}
    created = await client.post("/api/v1/rules", json=valid, headers=admin.headers)
    assert created.status_code == 201, created.text
    assert created.json()["definition"]["when"] == {
        "field": "task.stage",
        "equals": "waiting_parts",
    }
