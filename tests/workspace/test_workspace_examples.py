"""The example workspace files load, and their values reach the runtime as written."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from workspace_texts import SERVICENOW_REPLAY, TECHNICAL_SERVICES

from opsdesk.errors import WorkspaceError
from opsdesk.workspace import load_workspace
from opsdesk.workspace.schema import StopOn, TicketStatus


@pytest.mark.parametrize("path", [TECHNICAL_SERVICES, SERVICENOW_REPLAY], ids=lambda p: p.name)
def test_example_loads(path: object) -> None:
    workspace = load_workspace(str(path), environ={})

    assert workspace.source == str(path)
    assert set(workspace.calendars) == set(workspace.spec.calendars)


def test_technical_services_contents() -> None:
    workspace = load_workspace(TECHNICAL_SERVICES, environ={})
    spec = workspace.spec

    assert workspace.name == "Brightline Technical Services"
    assert spec.reference_prefix == "SR"
    assert workspace.priority_keys == ["low", "medium", "high", "urgent"]
    assert [policy.key for policy in spec.sla_policies] == ["site_visit", "standard"]
    assert [escalation.on for escalation in spec.escalations] == ["warning", "breach", "breach"]
    assert spec.allowed_origins == ["http://127.0.0.1:8001", "http://localhost:8001"]


def test_technical_services_durations() -> None:
    workspace = load_workspace(TECHNICAL_SERVICES, environ={})

    standard = workspace.policy("standard")
    urgent = standard.targets["urgent"]
    solar = workspace.pipeline("solar").operational_sla

    assert urgent.first_response == timedelta(minutes=30)
    assert urgent.resolution == timedelta(hours=4)
    assert urgent.next_response is None
    assert solar is not None
    assert solar.targets["low"] == timedelta(hours=36)


def test_technical_services_shared_stages() -> None:
    workspace = load_workspace(TECHNICAL_SERVICES, environ={})

    stages = {pipeline.key: pipeline.stages for pipeline in workspace.spec.pipelines}

    assert all(value == stages["solar"] for value in stages.values())
    assert workspace.stage("hvac", "waiting_parts").pauses_sla is True
    assert workspace.stage("hvac", "done").completes is True


def test_technical_services_calendar_holidays() -> None:
    workspace = load_workspace(TECHNICAL_SERVICES, environ={})
    office = workspace.calendar("lagos_office")

    # 2030-10-01 is Nigeria's Independence Day, a Tuesday.
    holiday_start = datetime(2030, 10, 1, 7, 0, tzinfo=UTC)
    working_day_start = datetime(2030, 10, 2, 7, 0, tzinfo=UTC)

    assert date(2030, 10, 1).weekday() == 1
    assert office.between(holiday_start, holiday_start + timedelta(days=1)) == timedelta(0)
    assert office.between(working_day_start, working_day_start + timedelta(days=1)) == (
        timedelta(hours=10)
    )


def test_slack_subscription_inactive_without_variable() -> None:
    workspace = load_workspace(TECHNICAL_SERVICES, environ={})

    (subscription,) = workspace.spec.subscriptions

    assert subscription.kind == "slack"
    assert subscription.url is None


def test_slack_subscription_url_from_variable() -> None:
    url = "https://hooks.slack.com/services/T000/B000/XXXX"

    workspace = load_workspace(TECHNICAL_SERVICES, environ={"OPSDESK_SLACK_WEBHOOK_URL": url})

    assert str(workspace.spec.subscriptions[0].url) == url


def test_servicenow_replay_policy() -> None:
    workspace = load_workspace(SERVICENOW_REPLAY, environ={})

    (policy,) = workspace.spec.sla_policies

    assert policy.when is None
    assert policy.calendar is None
    assert workspace.policy_calendar_key(policy) == "round_the_clock"
    assert policy.stop_on.first_response[0] is TicketStatus.OPEN
    assert policy.stop_on.resolution == StopOn().resolution
    assert policy.targets["urgent"].resolution == timedelta(minutes=30)


def test_servicenow_replay_calendar_round_the_clock() -> None:
    workspace = load_workspace(SERVICENOW_REPLAY, environ={})
    calendar = workspace.calendar("round_the_clock")
    start = datetime(2030, 1, 1, tzinfo=UTC)

    assert calendar.between(start, start + timedelta(days=7)) == timedelta(days=7)


def test_missing_file_reported() -> None:
    with pytest.raises(WorkspaceError) as caught:
        load_workspace("/nonexistent/workspace.yaml")

    assert caught.value.problems == ["file not found; pass an existing workspace file"]
