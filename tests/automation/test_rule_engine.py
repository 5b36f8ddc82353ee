"""Rule matching: conditions, order, stop, self-triggering and chain depth."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from opsdesk.automation.engine import MAX_CHAIN_DEPTH, Cause, matches, rules_for_event
from opsdesk.automation.schema import Rule

FACTS: dict[str, Any] = {
    "status": "new",
    "priority": "high",
    "pipeline": "solar",
    "service_type": "solar_repair",
    "contact_method": "site_visit",
    "channel": "portal",
    "team": "solar_crew",
    "tags": ["vip"],
    "subject": "Inverter TRIPS every hour",
    "description": "",
    "assignee": None,
    "requester_email": "ada@example.com",
    "business_hours": True,
}


def rule(key: str, *, on: list[str] | None = None, when: Any = None, stop: bool = False) -> Rule:
    data: dict[str, Any] = {
        "key": key,
        "name": key,
        "on": on or ["ticket.created"],
        "actions": [{"action": "add_tag", "tag": key}],
        "stop": stop,
    }
    if when is not None:
        data["when"] = when
    return Rule.model_validate(data)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ({"field": "priority", "equals": "high"}, True),
        ({"field": "priority", "equals": "low"}, False),
        ({"field": "pipeline", "in": ["solar", "hvac"]}, True),
        ({"field": "pipeline", "not_in": ["solar"]}, False),
        ({"field": "tags", "contains": "vip"}, True),
        ({"field": "tags", "contains": "vi"}, False),
        ({"field": "subject", "contains": "trips"}, True),
        ({"field": "assignee", "exists": False}, True),
        ({"field": "assignee", "exists": True}, False),
        ({"field": "business_hours", "equals": True}, True),
        ({"field": "business_hours", "equals": False}, False),
        (
            {
                "all": [
                    {"field": "priority", "equals": "high"},
                    {"field": "channel", "equals": "portal"},
                ]
            },
            True,
        ),
        (
            {
                "all": [
                    {"field": "priority", "equals": "high"},
                    {"field": "channel", "equals": "email"},
                ]
            },
            False,
        ),
        (
            {
                "any": [
                    {"field": "priority", "equals": "low"},
                    {"field": "channel", "equals": "portal"},
                ]
            },
            True,
        ),
        (
            {
                "any": [
                    {"field": "priority", "equals": "low"},
                    {"field": "channel", "equals": "email"},
                ]
            },
            False,
        ),
        (
            {
                "all": [
                    {"field": "pipeline", "equals": "solar"},
                    {
                        "any": [
                            {"field": "tags", "contains": "vip"},
                            {"field": "priority", "equals": "urgent"},
                        ]
                    },
                ]
            },
            True,
        ),
    ],
)
def test_condition_evaluates(condition: Any, expected: bool) -> None:
    assert matches(rule("r", when=condition).when, FACTS) is expected


def test_condition_needs_one_operator() -> None:
    with pytest.raises(ValidationError, match="exactly one of equals"):
        rule("r", when={"field": "priority", "equals": "high", "in": ["low"]})


def test_empty_group_rejected() -> None:
    with pytest.raises(ValidationError, match="non-empty all or any"):
        rule("r", when={"all": []})


def test_rule_needs_one_trigger() -> None:
    with pytest.raises(ValidationError, match="exactly one trigger"):
        Rule.model_validate(
            {"key": "r", "name": "r", "actions": [{"action": "add_tag", "tag": "x"}]}
        )


def test_rules_run_in_order() -> None:
    rules = [rule("first"), rule("second"), rule("third", on=["ticket.replied"])]
    selected = rules_for_event(rules, event_type="ticket.created", facts=FACTS, cause=Cause())
    assert [found.key for found in selected] == ["first", "second"]


def test_stop_ends_the_list() -> None:
    rules = [
        rule("skipped", when={"field": "priority", "equals": "low"}, stop=True),
        rule("stopper", stop=True),
        rule("later"),
    ]
    selected = rules_for_event(rules, event_type="ticket.created", facts=FACTS, cause=Cause())
    assert [found.key for found in selected] == ["stopper"]


def test_rule_never_fires_on_its_own_change() -> None:
    rules = [rule("tagger"), rule("other")]
    selected = rules_for_event(
        rules, event_type="ticket.created", facts=FACTS, cause=Cause(rule="tagger", depth=1)
    )
    assert [found.key for found in selected] == ["other"]


def test_chain_stops_at_max_depth() -> None:
    rules = [rule("a")]
    deep = Cause(rule="other", depth=MAX_CHAIN_DEPTH)
    assert rules_for_event(rules, event_type="ticket.created", facts=FACTS, cause=deep) == []
    shallow = Cause(rule="other", depth=MAX_CHAIN_DEPTH - 1)
    assert [
        found.key
        for found in rules_for_event(rules, event_type="ticket.created", facts=FACTS, cause=shallow)
    ] == ["a"]


def test_disabled_rule_skipped() -> None:
    disabled = Rule.model_validate(
        {
            "key": "off",
            "name": "off",
            "on": ["ticket.created"],
            "enabled": False,
            "actions": [{"action": "add_tag", "tag": "x"}],
        }
    )
    assert (
        rules_for_event([disabled], event_type="ticket.created", facts=FACTS, cause=Cause()) == []
    )


def test_cause_round_trips() -> None:
    cause = Cause(rule="tagger", depth=2)
    assert Cause.from_dict(cause.to_dict()) == cause
    assert Cause.from_dict(None) == Cause()
