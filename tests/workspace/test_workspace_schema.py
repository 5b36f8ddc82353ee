"""Defaults and accepted forms of workspace values, as the reference documents them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from workspace_texts import VALID, edit, load

from opsdesk.errors import WorkspaceError
from opsdesk.workspace.schema import Metric, TicketStatus


def test_top_level_defaults() -> None:
    spec = load(VALID).spec

    assert spec.reference_prefix == "SR"
    assert spec.allowed_origins == []


def test_policy_defaults() -> None:
    policy = load(VALID).policy("standard")

    assert policy.calendar is None
    assert policy.warning_at == 0.75
    assert policy.pause_on == [TicketStatus.WAITING_ON_CUSTOMER, TicketStatus.PENDING_THIRD_PARTY]
    assert policy.pause_first_response is False
    assert policy.stop_on.first_response == [TicketStatus.RESOLVED, TicketStatus.CLOSED]
    assert policy.stop_on.resolution == [TicketStatus.RESOLVED, TicketStatus.CLOSED]
    assert policy.next_response_from_creation is False


def test_escalation_defaults() -> None:
    escalation = load(VALID).spec.escalations[0]

    assert escalation.metrics == [Metric.FIRST_RESPONSE, Metric.RESOLUTION]
    assert escalation.when is None
    assert escalation.actions[0].action == "raise_priority"
    assert escalation.actions[0].steps == 1  # type: ignore[union-attr]


def test_pipeline_and_stage_defaults() -> None:
    workspace = load(VALID)
    pipeline = workspace.pipeline("workshop")

    assert pipeline.calendar is None
    assert workspace.pipeline_calendar_key(pipeline) == "office"
    assert pipeline.operational_sla is not None
    assert pipeline.operational_sla.warning_at == 0.75
    assert workspace.stage("workshop", "todo").pauses_sla is False
    assert workspace.stage("workshop", "todo").completes is False


def test_subscription_defaults() -> None:
    subscription = load(VALID).spec.subscriptions[0]

    assert subscription.kind == "webhook"
    assert subscription.description is None


def test_contact_method_defaults() -> None:
    email = load(VALID).contact_method("email")

    assert email.requires_phone is False
    assert email.requires_site_address is False


def test_task_template_pipeline_defaults_to_none() -> None:
    service = load(VALID).service_type("repair")

    assert service.tasks[0].pipeline is None
    assert service.description is None


@pytest.mark.parametrize(
    ("written", "duration"),
    [
        ("PT4H", timedelta(hours=4)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("PT45M", timedelta(minutes=45)),
        ("PT90S", timedelta(seconds=90)),
        ("4h", timedelta(hours=4)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("PT240H", timedelta(hours=240)),
    ],
)
def test_duration_forms(written: str, duration: timedelta) -> None:
    text = edit(VALID, "resolution: 4h}", f"resolution: {written}}}")

    targets = load(text).policy("standard").targets["urgent"]

    assert targets.resolution == duration


@pytest.mark.parametrize("written", ["P1D", "P1DT2H", "PT-1H", "-PT1H", "4 h", "4H", "1d"])
def test_duration_forms_rejected(written: str) -> None:
    text = edit(VALID, "resolution: 4h}", f"resolution: '{written}'}}")

    with pytest.raises(WorkspaceError, match="invalid duration"):
        load(text)


def test_condition_value_may_be_single_or_list() -> None:
    text = edit(
        VALID,
        "when: {contact_method: site_visit}",
        "when: {contact_method: [site_visit, email], priority: urgent}",
    )

    conditions = load(text).policy("visits").when

    assert conditions is not None
    assert conditions.contact_method == ["site_visit", "email"]
    assert conditions.priority == ["urgent"]


def test_metric_may_be_left_out_of_targets() -> None:
    text = edit(VALID, "urgent: {first_response: 30m, resolution: 4h}", "urgent: {resolution: 4h}")

    targets = load(text).policy("standard").targets["urgent"]

    assert targets.first_response is None
    assert targets.resolution == timedelta(hours=4)


def test_next_response_target_accepted() -> None:
    text = edit(
        VALID,
        "urgent: {first_response: 30m, resolution: 4h}",
        "urgent: {first_response: 30m, next_response: 2h, resolution: 4h}",
    )

    targets = load(text).policy("standard").targets["urgent"]

    assert targets.next_response == timedelta(hours=2)
