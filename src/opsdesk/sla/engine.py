"""The clock of one SLA metric, computed from its history of phase transitions.

A clock consumes working time while it runs and records working time spent paused. Its
whole state is the list of transitions, so a caller can store it as rows or JSON and
measure it again at any instant. Nothing here reads the current time or does I/O: every
instant is passed in, and all working-time arithmetic goes through the calendar.

Cost: `measure` and `fire_instant` make one `between` call per non-empty segment of the
history plus at most one `add` call, so a clock that changed phase n times costs about
n + 1 calendar calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from itertools import pairwise
from typing import Any, Protocol

from opsdesk.sla.instants import format_instant, parse_instant, to_utc

ZERO = timedelta(0)


class Phase(StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class WorkingCalendar(Protocol):
    """The part of `opsdesk.calendars.BusinessCalendar` that the clock needs."""

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """Return the earliest t ≥ start with working time in [start, t) equal to duration."""
        ...

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Return the working time in [start, end), or zero if end is not after start."""
        ...


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of a clock's phase at an instant; `cause` is shown on the ticket timeline."""

    at: datetime
    phase: Phase
    cause: str

    def __post_init__(self) -> None:
        # Normalised here so that stored, compared and serialised instants are all UTC.
        object.__setattr__(self, "at", to_utc(self.at))
        object.__setattr__(self, "phase", Phase(self.phase))

    def to_dict(self) -> dict[str, str]:
        return {"at": format_instant(self.at), "phase": self.phase.value, "cause": self.cause}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Transition:
        """Rebuild a transition from `to_dict` output; raise ValueError if a field is invalid."""
        try:
            at, phase, cause = data["at"], data["phase"], data["cause"]
        except KeyError as exc:
            raise ValueError(f"transition {dict(data)!r} is missing the key {exc}") from None
        if not isinstance(at, str) or not isinstance(cause, str):
            raise ValueError(f"transition {dict(data)!r}: at and cause must be strings")
        try:
            return cls(at=parse_instant(at), phase=Phase(phase), cause=cause)
        except ValueError as exc:
            raise ValueError(f"transition {dict(data)!r}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Measurement:
    """The values of a clock at one instant.

    `end` is the instant the values are measured up to: the stop instant if the clock is
    stopped, else the instant of measurement.
    """

    elapsed: timedelta
    """Working time consumed while running, up to `end`."""
    paused: timedelta
    """Working time spent paused, up to `end`."""
    due: datetime | None
    """None without a target. Otherwise the instant consumed time reached the target, or,
    if it has not yet, the instant it would if the clock ran on from `end` without pausing."""
    breached: bool
    """Whether `due` is set and `end` is later than it."""
    phase: Phase
    stopped_at: datetime | None
    end: datetime
    target: timedelta | None


def measure(
    transitions: Sequence[Transition],
    calendar: WorkingCalendar,
    target: timedelta | None,
    at: datetime,
) -> Measurement:
    """Measure a clock at `at`, ignoring transitions later than `at`.

    Raises ValueError if the history is empty, out of time order, or starts after `at`,
    or if the target is not positive.
    """
    at = to_utc(at)
    if target is not None and target <= ZERO:
        raise ValueError(f"target must be positive, got {target}")
    history = _history_until(transitions, at)
    elapsed, paused, reached_at = _walk(history, calendar, until=at, amount=target)

    last = history[-1]
    stopped_at = last.at if last.phase is Phase.STOPPED else None
    end = stopped_at if stopped_at is not None else at

    due: datetime | None = None
    if target is not None:
        due = reached_at if reached_at is not None else calendar.add(end, target - elapsed)
    return Measurement(
        elapsed=elapsed,
        paused=paused,
        due=due,
        breached=due is not None and end > due,
        phase=last.phase,
        stopped_at=stopped_at,
        end=end,
        target=target,
    )


def fire_instant(
    transitions: Sequence[Transition], calendar: WorkingCalendar, amount: timedelta
) -> datetime | None:
    """Return the instant at which the clock's consumed time reaches `amount`.

    This is when a timer for a threshold should fire, given the whole history so far. It
    is the past instant the amount was reached if it already was, whatever the phase is
    now. Otherwise it is the future instant if the clock is running, else None, because
    a paused or stopped clock reaches nothing until it changes phase again.
    """
    if amount <= ZERO:
        raise ValueError(f"amount must be positive, got {amount}")
    history = _checked(transitions)
    elapsed, _, reached_at = _walk(history, calendar, until=None, amount=amount)
    if reached_at is not None:
        return reached_at
    last = history[-1]
    if last.phase is Phase.RUNNING:
        return calendar.add(last.at, amount - elapsed)
    return None


def _checked(transitions: Sequence[Transition]) -> Sequence[Transition]:
    if not transitions:
        raise ValueError("a clock needs at least one transition")
    for previous, current in pairwise(transitions):
        if current.at < previous.at:
            raise ValueError(
                f"transitions out of time order: {format_instant(current.at)} follows "
                f"{format_instant(previous.at)}"
            )
    return transitions


def _history_until(transitions: Sequence[Transition], at: datetime) -> Sequence[Transition]:
    history = _checked(transitions)
    if history[0].at > at:
        raise ValueError(
            f"cannot measure at {format_instant(at)}: the clock starts at "
            f"{format_instant(history[0].at)}"
        )
    count = len(history)
    while history[count - 1].at > at:
        count -= 1
    return history[:count]


def _segments(
    history: Sequence[Transition], until: datetime | None
) -> Iterator[tuple[datetime, datetime, Phase]]:
    """Yield the non-empty running and paused spans of the history.

    With `until` None only the spans between transitions are yielded, not the open span
    after the last one.
    """
    for current, following in pairwise(history):
        if current.phase is not Phase.STOPPED and following.at > current.at:
            yield current.at, following.at, current.phase
    last = history[-1]
    if until is not None and last.phase is not Phase.STOPPED and until > last.at:
        yield last.at, until, last.phase


def _walk(
    history: Sequence[Transition],
    calendar: WorkingCalendar,
    *,
    until: datetime | None,
    amount: timedelta | None,
) -> tuple[timedelta, timedelta, datetime | None]:
    """Return (consumed, paused, instant consumed time reached `amount` or None).

    With `until` None (as `fire_instant` calls it) paused time is not computed, and the
    walk ends at the segment where `amount` is reached.
    """
    elapsed = ZERO
    paused = ZERO
    reached_at: datetime | None = None
    for start, end, phase in _segments(history, until):
        if phase is Phase.RUNNING:
            span = calendar.between(start, end)
            if amount is not None and reached_at is None and elapsed + span >= amount:
                # amount - elapsed is positive here, because otherwise an earlier
                # segment would have reached the amount.
                reached_at = calendar.add(start, amount - elapsed)
                if until is None:
                    return elapsed + span, paused, reached_at
            elapsed += span
        elif until is not None:
            paused += calendar.between(start, end)
    return elapsed, paused, reached_at
