"""Turn a workspace SLA policy into the engine's `Rules`."""

from __future__ import annotations

from datetime import timedelta

from opsdesk.sla.rules import Metric, Rules
from opsdesk.workspace.schema import SlaPolicy

_cache: dict[int, tuple[SlaPolicy, Rules]] = {}


def rules_for(policy: SlaPolicy) -> Rules:
    """Return the engine rules of `policy`; built once per policy object.

    A reopened ticket resumes its resolution clock, as agents expect: the time it spent
    resolved does not count, the time before and after does.
    """
    cached = _cache.get(id(policy))
    if cached is not None and cached[0] is policy:
        return cached[1]
    priorities: dict[str, dict[Metric, timedelta]] = {}
    for priority, targets in policy.targets.items():
        table: dict[Metric, timedelta] = {}
        if targets.first_response is not None:
            table[Metric.FIRST_RESPONSE] = targets.first_response
        if targets.next_response is not None:
            table[Metric.NEXT_RESPONSE] = targets.next_response
        if targets.resolution is not None:
            table[Metric.RESOLUTION] = targets.resolution
        priorities[priority] = table
    rules = Rules(
        targets={},
        priorities=priorities,
        pause_on=frozenset(policy.pause_on),
        pause_first_response=policy.pause_first_response,
        stop_on={
            Metric.FIRST_RESPONSE: frozenset(policy.stop_on.first_response),
            Metric.RESOLUTION: frozenset(policy.stop_on.resolution),
        },
        next_response_from_creation=policy.next_response_from_creation,
        resume_on_reopen=True,
    )
    _cache[id(policy)] = (policy, rules)
    return rules


def format_span(duration: timedelta | None) -> str:
    """Format a working-time span for people: ``4h``, ``1h 30m``, ``45s``."""
    if duration is None:
        return "no target"
    total = int(duration.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h"] if hours else []
    if minutes:
        parts.append(f"{minutes}m")
    if seconds or not parts:
        parts.append(f"{seconds}s")
    return sign + " ".join(parts)
