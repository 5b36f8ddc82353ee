"""The inbound: section of the workspace file: its shape and cross-checks."""

from __future__ import annotations

import pytest

from opsdesk.errors import WorkspaceError
from opsdesk.workspace import parse_workspace
from support import EXAMPLE_WORKSPACE

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SOURCE = """
inbound:
  - key: {key}
    secret: {secret}
    id_field: {id_field}
    create:
      service_type: {service_type}
      contact_method: {{value: email}}
      priority: {priority}
      subject: {{field: alert.title}}
      description: {{field: alert.text}}
      name: {{value: Monitoring}}
      email: {{value: monitoring@example.com}}
    update:
      status: {status}
"""
GOOD = {
    "key": "monitoring",
    "secret": SECRET,
    "id_field": "alert.id",
    "service_type": "{value: solar_repair}",
    "priority": "{field: alert.severity, map: {critical: urgent}, default: medium}",
    "status": "{field: alert.state, map: {resolved: resolved}}",
}


def workspace_text(**changes: str) -> str:
    section = SOURCE.format(**(GOOD | changes))
    return EXAMPLE_WORKSPACE.read_text(encoding="utf-8") + section


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkspaceError) as raised:
        parse_workspace(text, environ={})
    return raised.value.problems


def test_inbound_section_loads() -> None:
    workspace = parse_workspace(workspace_text(), environ={})

    [source] = workspace.spec.inbound
    assert source.key == "monitoring"
    assert source.secret == SECRET
    assert source.create.priority is not None
    assert source.create.priority.map == {"critical": "urgent"}
    assert source.update is not None
    assert source.update.status is not None
    assert source.update.status.field == "alert.state"


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"service_type": "{value: plumbing}"},
            "inbound[0].create.service_type.value: unknown service type 'plumbing'",
        ),
        (
            {"priority": "{field: alert.severity, map: {critical: extreme}}"},
            "inbound[0].create.priority.map.critical: unknown priority 'extreme'",
        ),
        (
            {"priority": "{field: alert.severity, default: whenever}"},
            "inbound[0].create.priority.default: unknown priority 'whenever'",
        ),
        (
            {"status": "{field: alert.state, map: {resolved: fixed}}"},
            "inbound[0].update.status.map.resolved: unknown status 'fixed'",
        ),
        ({"secret": "hunter2"}, "inbound[0].secret: invalid secret"),
        ({"key": "email"}, "inbound[0].key: the key 'email' is taken"),
        ({"key": "Monitoring"}, "inbound[0].key: invalid key 'Monitoring'"),
        ({"id_field": "alert..id"}, "inbound[0].id_field: invalid body path 'alert..id'"),
        (
            {"service_type": "{value: solar_repair, field: alert.kind}"},
            "inbound[0].create.service_type: give exactly one of value",
        ),
        (
            {"service_type": "{value: solar_repair, default: hvac_repair}"},
            "inbound[0].create.service_type: map and default apply to field only",
        ),
    ],
)
def test_inbound_mistake_reported(changes: dict[str, str], expected: str) -> None:
    problems = problems_of(workspace_text(**changes))

    assert any(problem.startswith(expected) for problem in problems), problems
    assert all("(line " in problem for problem in problems)


def test_duplicate_source_key_reported() -> None:
    text = workspace_text() + SOURCE.format(**GOOD).replace("inbound:\n", "")

    problems = problems_of(text)

    assert any(
        problem.startswith("inbound[1].key: duplicate key 'monitoring'") for problem in problems
    ), problems


def test_unset_secret_variable_reported() -> None:
    problems = problems_of(workspace_text(secret="${MONITORING_WEBHOOK_SECRET}"))

    assert any(
        problem.startswith(
            "inbound[0].secret: environment variable MONITORING_WEBHOOK_SECRET is not set"
        )
        for problem in problems
    ), problems


def test_empty_secret_disables_source() -> None:
    workspace = parse_workspace(workspace_text(secret="${MONITORING_WEBHOOK_SECRET:-}"), environ={})

    [source] = workspace.spec.inbound
    assert source.secret is None
    assert workspace.defaulted_variables["inbound[0].secret"] == "MONITORING_WEBHOOK_SECRET"
