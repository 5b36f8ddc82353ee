"""Human-facing ticket and task references such as ``SR-000123`` and ``TK-000045``."""

from __future__ import annotations

import re

from opsdesk.errors import NotFound

TASK_PREFIX = "TK"
_REFERENCE = re.compile(r"^([A-Z]{1,6})-(\d{1,18})$")


def format_reference(prefix: str, number: int) -> str:
    return f"{prefix}-{number:06d}"


def parse_reference(prefix: str, reference: str, *, what: str = "ticket") -> int:
    """Return the number inside `reference`, or raise NotFound if it is not one of ours."""
    match = _REFERENCE.match(reference.strip().upper())
    if match is None or match.group(1) != prefix:
        raise NotFound(f"{what} {reference!r} not found; references look like {prefix}-000123")
    return int(match.group(2))
