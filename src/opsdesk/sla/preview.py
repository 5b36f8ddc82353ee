"""Run a validated scenario and return its computed values as JSON-compatible data.

The output has one result per calendar operation, or one checkpoint per `expect` entry
with all three metrics and all four values each. Instants are ISO 8601 in UTC with a `Z`
suffix and durations are integer seconds. The values the scenario file expects are not
compared here; a caller compares them with `Checkpoint.expected`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from opsdesk.calendars import CalendarError
from opsdesk.sla.engine import Measurement, WorkingCalendar
from opsdesk.sla.instants import format_instant
from opsdesk.sla.rules import Metric
from opsdesk.sla.scenario import (
    AddOperation,
    CalendarScenario,
    ClockScenario,
    CreatedEvent,
    Event,
    PriorityEvent,
    ReplyEvent,
    Scenario,
    ScenarioError,
    StatusEvent,
)
from opsdesk.sla.ticket_sla import Change, TicketSla

_ONE_SECOND = timedelta(seconds=1)


def preview(scenario: Scenario) -> dict[str, Any]:
    """Compute a scenario's values; raise ScenarioError if the calendar cannot compute one."""
    if isinstance(scenario, CalendarScenario):
        return {"id": scenario.id, "results": _calendar_results(scenario)}
    return {"id": scenario.id, "checkpoints": _clock_checkpoints(scenario)}


def apply_event(ticket: TicketSla, event: Event) -> list[Change]:
    """Apply one scenario event to `ticket` and return the changes it caused."""
    if isinstance(event, CreatedEvent):
        return ticket.create(event.at, status=event.status, priority=event.priority)
    if isinstance(event, StatusEvent):
        return ticket.set_status(event.at, event.status)
    if isinstance(event, ReplyEvent):
        return ticket.reply(event.at, by=event.by, public=event.public)
    if isinstance(event, PriorityEvent):
        return ticket.set_priority(event.at, event.priority)
    raise TypeError(f"unknown event {event!r}")


def measurement_values(measurement: Measurement | None) -> dict[str, Any]:
    """Return the four output values of one metric; None means no next-response cycle yet."""
    if measurement is None:
        return {
            "due": None,
            "breached": False,
            "business_seconds_elapsed": 0,
            "paused_business_seconds": 0,
        }
    return {
        "due": None if measurement.due is None else format_instant(measurement.due),
        "breached": measurement.breached,
        "business_seconds_elapsed": _whole_seconds(measurement.elapsed),
        "paused_business_seconds": _whole_seconds(measurement.paused),
    }


def _calendar_results(scenario: CalendarScenario) -> list[str | int]:
    results: list[str | int] = []
    for index, operation in enumerate(scenario.operations):
        try:
            if isinstance(operation, AddOperation):
                instant = scenario.calendar.add(operation.start, operation.duration)
                results.append(format_instant(instant))
            else:
                worked = scenario.calendar.between(operation.start, operation.end)
                results.append(_whole_seconds(worked))
        except CalendarError as exc:
            raise ScenarioError(str(exc), path=f"operations[{index}]") from exc
    return results


def _clock_checkpoints(scenario: ClockScenario) -> list[dict[str, Any]]:
    ticket = TicketSla(scenario.rules)
    # Checkpoints are visited in time order while events are applied once, in file
    # order, so each checkpoint is measured after exactly the events at or before it.
    order = sorted(range(len(scenario.checkpoints)), key=lambda i: scenario.checkpoints[i].at)
    outputs: list[dict[str, Any]] = [{} for _ in scenario.checkpoints]
    applied = 0
    for index in order:
        at = scenario.checkpoints[index].at
        while applied < len(scenario.events) and scenario.events[applied].at <= at:
            apply_event(ticket, scenario.events[applied])
            applied += 1
        outputs[index] = _checkpoint_output(ticket, scenario.calendar, at, index)
    return outputs


def _checkpoint_output(
    ticket: TicketSla, calendar: WorkingCalendar, at: datetime, index: int
) -> dict[str, Any]:
    try:
        measurements = ticket.measure(calendar, at)
    except CalendarError as exc:
        raise ScenarioError(str(exc), path=f"expect[{index}]") from exc
    output: dict[str, Any] = {"at": format_instant(at)}
    for metric in Metric:
        output[metric.value] = measurement_values(measurements[metric])
    return output


def _whole_seconds(duration: timedelta) -> int:
    # Scenario instants are whole seconds, so working time is too; floor division keeps
    # the result an int either way.
    return duration // _ONE_SECOND
