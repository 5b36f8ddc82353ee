"""Which rules run for an event: pure functions, no I/O.

Rules run in their stated order. A rule with `stop` ends the list for that event when it
matches. A rule never runs for an event that its own actions caused, and a chain of rules
triggering rules ends after MAX_CHAIN_DEPTH links, so two rules that undo each other
cannot loop.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from opsdesk.automation.schema import ConditionGroup, FieldCondition, Rule

MAX_CHAIN_DEPTH = 3
"""Links in a chain: a person's change (0) can trigger rules (1), whose changes can trigger
rules (2) and (3); events caused at depth 3 trigger nothing."""


@dataclass(frozen=True)
class Cause:
    """Why an event happened: the rule whose action caused it, and the chain depth."""

    rule: str | None = None
    depth: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "depth": self.depth}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Cause:
        if not data:
            return cls()
        return cls(rule=data.get("rule"), depth=int(data.get("depth", 0)))


def matches(condition: FieldCondition | ConditionGroup | None, facts: Mapping[str, Any]) -> bool:
    """Evaluate a condition tree against a ticket's facts."""
    if condition is None:
        return True
    if isinstance(condition, ConditionGroup):
        if condition.all and not all(matches(part, facts) for part in condition.all):
            return False
        if condition.any and not any(matches(part, facts) for part in condition.any):
            return False
        return True
    value = facts.get(condition.field)
    match condition.operator:
        case "equals":
            return _same(value, condition.equals)
        case "in":
            return _text(value) in (condition.in_ or [])
        case "not_in":
            return _text(value) not in (condition.not_in or [])
        case "contains":
            return _contains(value, condition.contains or "")
        case "exists":
            present = value not in (None, "", [], ())
            return present is condition.exists
    raise AssertionError(f"unknown operator {condition.operator}")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _same(value: Any, expected: str | bool | None) -> bool:
    if isinstance(expected, bool):
        return bool(value) is expected
    return _text(value) == expected


def _contains(value: Any, needle: str) -> bool:
    if isinstance(value, list | tuple | set):
        return needle in value
    if value is None:
        return False
    return needle.casefold() in str(value).casefold()


def rules_for_event(
    rules: Sequence[Rule], *, event_type: str, facts: Mapping[str, Any], cause: Cause
) -> list[Rule]:
    """Return the rules to run for one event, in order."""
    if cause.depth >= MAX_CHAIN_DEPTH:
        return []
    selected: list[Rule] = []
    for rule in rules:
        if not rule.enabled or rule.on is None or event_type not in rule.on:
            continue
        if rule.key == cause.rule:
            continue
        if not matches(rule.when, facts):
            continue
        selected.append(rule)
        if rule.stop:
            break
    return selected


def timed_rules_for_status(rules: Iterable[Rule], status: str) -> list[Rule]:
    """Return the enabled rules that wait on tickets in `status`."""
    return [
        rule
        for rule in rules
        if rule.enabled and rule.after is not None and rule.after.status == status
    ]
