"""Comparison of a scenario's expected values with the preview output, shared by the tests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from opsdesk.sla.preview import preview
from opsdesk.sla.scenario import (
    AddOperation,
    CalendarScenario,
    Scenario,
    parse_scenario,
)


def mismatches(scenario: Scenario, output: dict[str, Any]) -> list[str]:
    """Return one line per value named in the scenario that the output does not equal."""
    problems: list[str] = []
    if isinstance(scenario, CalendarScenario):
        for index, (operation, result) in enumerate(
            zip(scenario.operations, output["results"], strict=True)
        ):
            if isinstance(operation, AddOperation):
                equal = datetime.fromisoformat(result) == operation.expect
                expected: object = operation.expect.isoformat()
            else:
                equal = result == operation.expect and type(result) is int
                expected = operation.expect
            if not equal:
                problems.append(f"operations[{index}]: expected {expected}, printed {result!r}")
        return problems

    for index, (checkpoint, printed) in enumerate(
        zip(scenario.checkpoints, output["checkpoints"], strict=True)
    ):
        for metric, values in checkpoint.expected.items():
            for key, value in values.items():
                got = printed[metric.value][key]
                if not _equal(value, got):
                    expected_text = value.isoformat() if isinstance(value, datetime) else value
                    problems.append(
                        f"expect[{index}].{metric}.{key}: expected {expected_text!r}, "
                        f"printed {got!r}"
                    )
    return problems


def _equal(expected: object, printed: object) -> bool:
    if isinstance(expected, datetime):
        # Dues are instants: equal moments match whatever offset either side uses.
        return isinstance(printed, str) and datetime.fromisoformat(printed) == expected
    if isinstance(expected, bool) or expected is None:
        return printed is expected
    return printed == expected and type(printed) is type(expected)


def run_and_check(data: dict[str, Any]) -> dict[str, Any]:
    """Parse a scenario mapping, preview it, assert every named value, return the output."""
    scenario = parse_scenario(data)
    output = preview(scenario)
    problems = mismatches(scenario, output)
    # A plain helper module gets no assertion rewriting, so the message lists the values.
    assert not problems, "\n".join(problems)
    return output
