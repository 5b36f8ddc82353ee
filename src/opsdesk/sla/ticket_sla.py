"""The SLA state of one ticket: a clock per metric, driven by the ticket's events.

`TicketSla` turns ticket events (created, status change, reply, priority change) into
clock transitions and returns the resulting changes for the ticket timeline. It keeps
only plain data, so `to_dict` and `from_dict` store and restore it exactly, and it needs
no calendar until it is measured.

Semantics:
- first_response starts at creation. It stops at the first public agent reply or on
  entering one of its stop statuses, and either counts as the ticket's first response.
- resolution starts at creation and stops on entering one of its stop statuses.
- next_response runs in numbered cycles. A public customer reply opens one if none is
  open and the ticket has had its first response; creation opens the first one if the
  rules say so. The next public agent reply closes it.
- A pause status pauses every running clock (first_response only if the rules say so),
  and a stop status wins over a pause status.
- A stopped clock never restarts, except resolution when `Rules.resume_on_reopen` is set.
- On a priority change every clock not yet stopped takes the new targets, and the time it
  has consumed counts against them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from opsdesk.sla.engine import (
    Measurement,
    Phase,
    Transition,
    WorkingCalendar,
    fire_instant,
    measure,
)
from opsdesk.sla.instants import format_instant, parse_instant, to_utc
from opsdesk.sla.rules import Metric, Rules

DEFAULT_STATUS = "new"
REOPENED_CAUSE = "reopened"


class Author(StrEnum):
    AGENT = "agent"
    CUSTOMER = "customer"


class ChangeKind(StrEnum):
    STARTED = "started"
    PAUSED = "paused"
    RESUMED = "resumed"
    STOPPED = "stopped"
    RETARGETED = "retargeted"
    CYCLE_OPENED = "cycle_opened"
    CYCLE_CLOSED = "cycle_closed"


@dataclass(frozen=True, slots=True)
class Change:
    """One entry for the ticket timeline: what happened to which clock, and why."""

    at: datetime
    metric: Metric
    cycle: int | None
    """Next-response cycle number, counted from 1; None for the other metrics."""
    kind: ChangeKind
    phase: Phase
    """Phase of the clock after the change."""
    cause: str
    target: timedelta | None
    """Target of the clock after the change."""

    def describe(self) -> str:
        """Return a one-line summary such as `resolution paused: status changed to pending`."""
        name = str(self.metric) if self.cycle is None else f"{self.metric} cycle {self.cycle}"
        action = str(self.kind).replace("cycle_", "")
        if self.kind is ChangeKind.STARTED and self.phase is Phase.PAUSED:
            action = "started paused"
        return f"{name} {action}: {self.cause}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": format_instant(self.at),
            "metric": self.metric.value,
            "cycle": self.cycle,
            "kind": self.kind.value,
            "phase": self.phase.value,
            "cause": self.cause,
            "target_seconds": _seconds_or_none(self.target),
        }


@dataclass
class Track:
    """The clock of one metric (or one next-response cycle) with its current target."""

    metric: Metric
    target: timedelta | None
    transitions: list[Transition]
    cycle: int | None = None

    @property
    def phase(self) -> Phase:
        return self.transitions[-1].phase

    @property
    def stopped(self) -> bool:
        return self.phase is Phase.STOPPED

    def measure(self, calendar: WorkingCalendar, at: datetime) -> Measurement:
        return measure(self.transitions, calendar, self.target, at)

    def fire_instant(self, calendar: WorkingCalendar, fraction: float = 1.0) -> datetime | None:
        """Return when consumed time reaches `fraction` of the target (1.0 is the due).

        None if the clock has no target, or is paused or stopped before reaching it.
        See `engine.fire_instant`.
        """
        if self.target is None:
            return None
        amount = self.target * fraction
        return fire_instant(self.transitions, calendar, amount)

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric.value,
            "cycle": self.cycle,
            "target_seconds": _seconds_or_none(self.target),
            "transitions": [transition.to_dict() for transition in self.transitions],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Track:
        """Rebuild a track from `to_dict` output; raise ValueError if a field is invalid."""
        try:
            metric = Metric(data["metric"])
            cycle = data.get("cycle")
            target_seconds = data.get("target_seconds")
            transitions = [Transition.from_dict(item) for item in data["transitions"]]
        except KeyError as exc:
            raise ValueError(f"track is missing the key {exc}") from None
        if cycle is not None and (not isinstance(cycle, int) or cycle < 1):
            raise ValueError(f"track cycle must be a positive integer or null, got {cycle!r}")
        if not transitions:
            raise ValueError(f"track of {metric} has no transitions")
        target = None if target_seconds is None else timedelta(seconds=target_seconds)
        return cls(metric=metric, target=target, transitions=transitions, cycle=cycle)


class TicketSla:
    """SLA clocks of one ticket, advanced by its events in time order.

    Each event method returns the changes it caused, in the order first_response,
    resolution, next_response. Events at one instant apply in call order. An event
    earlier than the previous one raises ValueError, as does any event before `create`.
    """

    def __init__(self, rules: Rules) -> None:
        self.rules = rules
        self.status: str | None = None
        self.priority: str | None = None
        self.first_responded = False
        self.created_at: datetime | None = None
        self.last_event_at: datetime | None = None
        self.first_response: Track | None = None
        self.resolution: Track | None = None
        self.next_response: list[Track] = []

    # Events

    def create(
        self, at: datetime, status: str = DEFAULT_STATUS, priority: str | None = None
    ) -> list[Change]:
        """Start first_response and resolution (and a next-response cycle if configured)."""
        if self.created_at is not None:
            raise ValueError(f"ticket SLA was already created at {format_instant(self.created_at)}")
        at = to_utc(at)
        self.created_at = self.last_event_at = at
        self.status = status
        self.priority = priority
        cause = f"ticket created with status {status}"

        changes: list[Change] = []
        self.first_response = self._start(Metric.FIRST_RESPONSE, None, at, cause, changes)
        self.resolution = self._start(Metric.RESOLUTION, None, at, cause, changes)
        for track in (self.first_response, self.resolution):
            if self.rules.stops(track.metric, status):
                self._stop(track, at, cause, changes)
        if self.rules.next_response_from_creation:
            self._open_cycle(at, cause, changes)
        return changes

    def set_status(self, at: datetime, status: str) -> list[Change]:
        """Apply a status change: stop, pause or resume clocks as the rules define."""
        at = self._advance(at)
        previous = self.status
        self.status = status
        cause = f"status changed to {status}"

        changes: list[Change] = []
        for track in self._live_tracks():
            if self.rules.stops(track.metric, status):
                self._stop(track, at, cause, changes)
            else:
                self._follow_pause(track, at, cause, changes)
        if self._reopens(previous, status):
            self._reopen(at, changes)
        return changes

    def reply(self, at: datetime, by: Author | str, public: bool) -> list[Change]:
        """Apply a reply. Only public replies affect clocks, and no reply changes the status."""
        author = Author(by)
        at = self._advance(at)
        if not public:
            return []

        changes: list[Change] = []
        open_cycle = self.open_cycle
        if author is Author.AGENT:
            cause = "public agent reply"
            if self.first_response is not None and not self.first_response.stopped:
                self._stop(self.first_response, at, cause, changes)
            if open_cycle is not None:
                self._stop(open_cycle, at, cause, changes)
        elif open_cycle is None and self.first_responded:
            self._open_cycle(at, "public customer reply", changes)
        return changes

    def set_priority(self, at: datetime, priority: str) -> list[Change]:
        """Apply a priority change: clocks not yet stopped take the new priority's targets."""
        at = self._advance(at)
        self.priority = priority
        cause = f"priority changed to {priority}"
        changes: list[Change] = []
        for track in self._live_tracks():
            self._retarget(track, at, cause, changes)
        return changes

    # Reading

    @property
    def open_cycle(self) -> Track | None:
        """The next-response cycle that is open, if any."""
        if self.next_response and not self.next_response[-1].stopped:
            return self.next_response[-1]
        return None

    @property
    def current_cycle(self) -> Track | None:
        """The open next-response cycle, else the latest closed one, else None."""
        return self.next_response[-1] if self.next_response else None

    def tracks(self) -> list[Track]:
        """Return every clock: first_response, resolution, then each next-response cycle."""
        fixed = [track for track in (self.first_response, self.resolution) if track is not None]
        return fixed + self.next_response

    def measure(self, calendar: WorkingCalendar, at: datetime) -> dict[Metric, Measurement | None]:
        """Measure every metric at `at`. next_response is its current cycle, or None before one.

        Targets are those in force after the last applied event, so `at` should not be
        earlier than that event.
        """
        if self.first_response is None or self.resolution is None:
            raise ValueError("cannot measure a ticket SLA before it is created")
        cycle = self.current_cycle
        return {
            Metric.FIRST_RESPONSE: self.first_response.measure(calendar, at),
            Metric.NEXT_RESPONSE: None if cycle is None else cycle.measure(calendar, at),
            Metric.RESOLUTION: self.resolution.measure(calendar, at),
        }

    # Storage

    def to_dict(self) -> dict[str, Any]:
        """Return the state as JSON-compatible data, without the rules."""
        return {
            "status": self.status,
            "priority": self.priority,
            "first_responded": self.first_responded,
            "created_at": _instant_or_none(self.created_at),
            "last_event_at": _instant_or_none(self.last_event_at),
            "first_response": _track_or_none(self.first_response),
            "resolution": _track_or_none(self.resolution),
            "next_response": [track.to_dict() for track in self.next_response],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], rules: Rules) -> TicketSla:
        """Restore the state saved by `to_dict`, governed by `rules`."""
        sla = cls(rules)
        try:
            sla.status = data["status"]
            sla.priority = data["priority"]
            sla.first_responded = bool(data["first_responded"])
            sla.created_at = _parse_optional_instant(data["created_at"])
            sla.last_event_at = _parse_optional_instant(data["last_event_at"])
            sla.first_response = _parse_optional_track(data["first_response"])
            sla.resolution = _parse_optional_track(data["resolution"])
            sla.next_response = [Track.from_dict(item) for item in data["next_response"]]
        except KeyError as exc:
            raise ValueError(f"ticket SLA state is missing the key {exc}") from None
        return sla

    # Internals

    def _advance(self, at: datetime) -> datetime:
        if self.last_event_at is None:
            raise ValueError("ticket SLA has no created event yet; call create() first")
        at = to_utc(at)
        if at < self.last_event_at:
            raise ValueError(
                f"event at {format_instant(at)} is earlier than the previous event at "
                f"{format_instant(self.last_event_at)}; apply events in time order"
            )
        self.last_event_at = at
        return at

    def _live_tracks(self) -> list[Track]:
        candidates = (self.first_response, self.resolution, self.open_cycle)
        return [track for track in candidates if track is not None and not track.stopped]

    def _phase_for_status(self, metric: Metric) -> Phase:
        status = self.status
        if status is not None and self.rules.pauses(metric, status):
            return Phase.PAUSED
        return Phase.RUNNING

    def _start(
        self, metric: Metric, cycle: int | None, at: datetime, cause: str, changes: list[Change]
    ) -> Track:
        phase = self._phase_for_status(metric)
        track = Track(
            metric=metric,
            target=self.rules.target(metric, self.priority),
            transitions=[Transition(at, phase, cause)],
            cycle=cycle,
        )
        kind = ChangeKind.STARTED if cycle is None else ChangeKind.CYCLE_OPENED
        changes.append(_change(track, at, kind, cause))
        return track

    def _open_cycle(self, at: datetime, cause: str, changes: list[Change]) -> None:
        cycle_number = len(self.next_response) + 1
        track = self._start(Metric.NEXT_RESPONSE, cycle_number, at, cause, changes)
        self.next_response.append(track)

    def _stop(self, track: Track, at: datetime, cause: str, changes: list[Change]) -> None:
        track.transitions.append(Transition(at, Phase.STOPPED, cause))
        kind = ChangeKind.CYCLE_CLOSED if track.cycle is not None else ChangeKind.STOPPED
        changes.append(_change(track, at, kind, cause))
        if track.metric is Metric.FIRST_RESPONSE:
            self.first_responded = True

    def _follow_pause(self, track: Track, at: datetime, cause: str, changes: list[Change]) -> None:
        phase = self._phase_for_status(track.metric)
        if phase is track.phase:
            return
        track.transitions.append(Transition(at, phase, cause))
        kind = ChangeKind.PAUSED if phase is Phase.PAUSED else ChangeKind.RESUMED
        changes.append(_change(track, at, kind, cause))

    def _retarget(self, track: Track, at: datetime, cause: str, changes: list[Change]) -> None:
        target = self.rules.target(track.metric, self.priority)
        if target == track.target:
            return
        track.target = target
        changes.append(_change(track, at, ChangeKind.RETARGETED, cause))

    def _reopens(self, previous: str | None, status: str) -> bool:
        return (
            self.rules.resume_on_reopen
            and self.resolution is not None
            and self.resolution.stopped
            and self.rules.stops(Metric.RESOLUTION, previous)
            and not self.rules.stops(Metric.RESOLUTION, status)
        )

    def _reopen(self, at: datetime, changes: list[Change]) -> None:
        # A reopened ticket may have entered a pause status, so the restarted clock
        # follows the pause rules like any other, and takes the current targets.
        track = self.resolution
        assert track is not None
        phase = self._phase_for_status(track.metric)
        track.transitions.append(Transition(at, phase, REOPENED_CAUSE))
        kind = ChangeKind.RESUMED if phase is Phase.RUNNING else ChangeKind.PAUSED
        changes.append(_change(track, at, kind, REOPENED_CAUSE))
        self._retarget(track, at, REOPENED_CAUSE, changes)


def _change(track: Track, at: datetime, kind: ChangeKind, cause: str) -> Change:
    return Change(
        at=at,
        metric=track.metric,
        cycle=track.cycle,
        kind=kind,
        phase=track.phase,
        cause=cause,
        target=track.target,
    )


def _seconds_or_none(duration: timedelta | None) -> int | float | None:
    if duration is None:
        return None
    if duration.microseconds == 0:
        return duration // timedelta(seconds=1)
    return duration.total_seconds()


def _track_or_none(track: Track | None) -> dict[str, Any] | None:
    return None if track is None else track.to_dict()


def _instant_or_none(instant: datetime | None) -> str | None:
    return None if instant is None else format_instant(instant)


def _parse_optional_instant(text: Any) -> datetime | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ValueError(f"expected an instant string or null, got {text!r}")
    return parse_instant(text)


def _parse_optional_track(data: Any) -> Track | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a track mapping or null, got {data!r}")
    return Track.from_dict(data)
