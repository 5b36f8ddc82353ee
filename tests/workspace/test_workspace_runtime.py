"""Lookups of the loaded workspace: policy choice, priority steps and escalation filters."""

from __future__ import annotations

from dataclasses import replace

import pytest
from workspace_texts import TECHNICAL_SERVICES, VALID, edit, load

from opsdesk.errors import InvalidInput
from opsdesk.workspace import TicketFacts, Workspace, load_workspace

PHONE_REPAIR = TicketFacts(
    service_type="solar_repair",
    pipeline="solar",
    contact_method="phone_call",
    priority="medium",
    channel="portal",
)


@pytest.fixture(scope="module")
def example() -> Workspace:
    return load_workspace(TECHNICAL_SERVICES, environ={})


def test_site_visit_picks_site_visit_policy(example: Workspace) -> None:
    facts = replace(PHONE_REPAIR, contact_method="site_visit")

    assert example.select_policy(facts).key == "site_visit"


@pytest.mark.parametrize("method", ["phone_call", "email"])
def test_other_methods_pick_standard_policy(example: Workspace, method: str) -> None:
    facts = replace(PHONE_REPAIR, contact_method=method)

    assert example.select_policy(facts).key == "standard"


def test_first_matching_policy_wins() -> None:
    urgent_policy = (
        "sla_policies:\n"
        "  - key: urgent_only\n"
        "    name: Urgent\n"
        "    when: {priority: urgent}\n"
        "    targets:\n"
        "      low: {resolution: 1h}\n"
        "      normal: {resolution: 1h}\n"
        "      urgent: {resolution: 1h}\n"
    )
    workspace = load(edit(VALID, "sla_policies:\n", urgent_policy))
    facts = TicketFacts(
        service_type="repair",
        pipeline="workshop",
        contact_method="site_visit",
        priority="urgent",
        channel="portal",
    )

    assert workspace.select_policy(facts).key == "urgent_only"
    assert workspace.select_policy(replace(facts, priority="low")).key == "visits"
    assert workspace.select_policy(replace(facts, contact_method="email")).key == "urgent_only"
    assert (
        workspace.select_policy(replace(facts, contact_method="email", priority="low")).key
        == "standard"
    )


def test_all_conditions_of_policy_must_match() -> None:
    text = edit(
        VALID,
        "when: {contact_method: site_visit}",
        "when: {contact_method: site_visit, channel: [portal, widget]}",
    )
    workspace = load(text)
    facts = TicketFacts(
        service_type="repair",
        pipeline="workshop",
        contact_method="site_visit",
        priority="low",
        channel="widget",
    )

    assert workspace.select_policy(facts).key == "visits"
    assert workspace.select_policy(replace(facts, channel="email")).key == "standard"


@pytest.mark.parametrize(
    ("priority", "steps", "expected"),
    [
        ("low", 1, "medium"),
        ("medium", 2, "urgent"),
        ("high", 1, "urgent"),
        ("urgent", 1, "urgent"),
        ("low", 10, "urgent"),
    ],
)
def test_raise_priority_stops_at_highest(
    example: Workspace, priority: str, steps: int, expected: str
) -> None:
    assert example.raise_priority(priority, steps) == expected


def test_escalations_filtered_by_level_and_metric(example: Workspace) -> None:
    def keys(on: str, metric: str) -> list[str]:
        return [item.key for item in example.escalations_for(on, metric, PHONE_REPAIR)]

    assert keys("warning", "first_response") == ["warn_owner"]
    assert keys("warning", "resolution") == ["warn_owner"]
    assert keys("breach", "resolution") == ["breach_to_supervisor"]
    assert keys("breach", "operational") == ["task_overdue"]
    assert keys("warning", "operational") == []
    assert keys("breach", "next_response") == []


def test_escalations_filtered_by_conditions() -> None:
    second = (
        "  - key: urgent_breach\n"
        "    name: Urgent breach\n"
        "    on: breach\n"
        "    metrics: [resolution]\n"
        "    when: {priority: urgent, pipeline: workshop}\n"
        "    actions:\n"
        "      - {action: notify, team: desk}\n"
        "subscriptions:\n"
    )
    workspace = load(edit(VALID, "subscriptions:\n", second))
    facts = TicketFacts(
        service_type="repair",
        pipeline="workshop",
        contact_method="email",
        priority="urgent",
        channel="api",
    )

    def keys(item_facts: TicketFacts, metric: str = "resolution") -> list[str]:
        return [item.key for item in workspace.escalations_for("breach", metric, item_facts)]

    assert keys(facts) == ["breach", "urgent_breach"]
    assert keys(replace(facts, priority="normal")) == ["breach"]
    assert keys(facts, metric="first_response") == ["breach"]


def test_lookup_of_unknown_key_raises(example: Workspace) -> None:
    with pytest.raises(InvalidInput) as caught:
        example.service_type("plumbing")

    assert caught.value.message.startswith("unknown service type 'plumbing'; expected one of ")
    assert "solar_repair" in caught.value.message


@pytest.mark.parametrize(
    ("lookup", "message"),
    [
        (lambda w: w.pipeline("plumbing"), "unknown pipeline 'plumbing'"),
        (lambda w: w.contact_method("fax"), "unknown contact method 'fax'"),
        (lambda w: w.policy("gold"), "unknown SLA policy 'gold'"),
        (lambda w: w.check_priority("critical"), "unknown priority 'critical'"),
        (lambda w: w.stage("solar", "shipped"), "unknown stage in pipeline solar 'shipped'"),
    ],
    ids=["pipeline", "contact_method", "policy", "priority", "stage"],
)
def test_lookups_name_the_unknown_value(example: Workspace, lookup: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        lookup(example)  # type: ignore[operator]


def test_calendar_keys_fall_back_to_default(example: Workspace) -> None:
    standard = example.policy("standard")
    solar = example.pipeline("solar")

    assert example.policy_calendar_key(standard) == "lagos_office"
    assert example.pipeline_calendar_key(solar) == "field_crews"
    assert example.calendar("field_crews") is example.calendars["field_crews"]
