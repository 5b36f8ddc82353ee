"""SLA rules: targets per metric and priority, and the statuses that pause or stop clocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType


class Metric(StrEnum):
    FIRST_RESPONSE = "first_response"
    NEXT_RESPONSE = "next_response"
    RESOLUTION = "resolution"


STOPPABLE_METRICS = frozenset({Metric.FIRST_RESPONSE, Metric.RESOLUTION})
"""Metrics that a status can stop. A next-response cycle ends only with an agent reply."""


def _frozen_targets(targets: Mapping[Metric, timedelta], where: str) -> Mapping[Metric, timedelta]:
    frozen: dict[Metric, timedelta] = {}
    for name, target in targets.items():
        metric = Metric(name)
        if target <= timedelta(0):
            raise ValueError(f"{where}: target of {metric} must be positive, got {target}")
        frozen[metric] = target
    return MappingProxyType(frozen)


@dataclass(frozen=True)
class Rules:
    """The SLA policy of a ticket, with the same keys as a scenario file's `policy`.

    Mappings are copied into read-only views on construction, and metric names given as
    strings are converted to `Metric`, so `Rules(targets={"resolution": ...})` works.
    """

    targets: Mapping[Metric, timedelta] = field(default_factory=dict)
    priorities: Mapping[str, Mapping[Metric, timedelta]] = field(default_factory=dict)
    """Per priority name, targets that replace those of `targets` while the ticket has it."""
    pause_on: frozenset[str] = frozenset()
    pause_first_response: bool = False
    """Whether `pause_on` statuses also pause first_response."""
    stop_on: Mapping[Metric, frozenset[str]] = field(default_factory=dict)
    """Statuses that stop first_response or resolution when entered."""
    next_response_from_creation: bool = False
    """Whether ticket creation opens the first next-response cycle."""
    resume_on_reopen: bool = False
    """Whether leaving a resolution stop status for a status that is not one restarts the
    stopped resolution clock. Scenario previews always use False."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", _frozen_targets(self.targets, "targets"))
        priorities = {
            name: _frozen_targets(targets, f"priorities[{name!r}]")
            for name, targets in self.priorities.items()
        }
        object.__setattr__(self, "priorities", MappingProxyType(priorities))
        object.__setattr__(self, "pause_on", _as_status_set(self.pause_on))
        stop_on: dict[Metric, frozenset[str]] = {}
        for name, statuses in self.stop_on.items():
            metric = Metric(name)
            if metric not in STOPPABLE_METRICS:
                raise ValueError(
                    f"stop_on: {metric} cannot be stopped by a status; "
                    "expected first_response or resolution"
                )
            stop_on[metric] = _as_status_set(statuses)
        object.__setattr__(self, "stop_on", MappingProxyType(stop_on))

    def target(self, metric: Metric, priority: str | None) -> timedelta | None:
        """Return the target of `metric` for a ticket of `priority`, or None if it has none."""
        if priority is not None:
            override = self.priorities.get(priority)
            if override is not None and metric in override:
                return override[metric]
        return self.targets.get(metric)

    def pauses(self, metric: Metric, status: str) -> bool:
        """Return whether `status` pauses `metric` (a stop status is checked separately)."""
        if metric is Metric.FIRST_RESPONSE and not self.pause_first_response:
            return False
        return status in self.pause_on

    def stops(self, metric: Metric, status: str | None) -> bool:
        """Return whether entering `status` stops `metric`."""
        return status is not None and status in self.stop_on.get(metric, frozenset())


def _as_status_set(statuses: Iterable[str]) -> frozenset[str]:
    if isinstance(statuses, str):
        # A bare string would otherwise become a set of its characters.
        raise TypeError(f"expected a collection of statuses, got the string {statuses!r}")
    return frozenset(statuses)
