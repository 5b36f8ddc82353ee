"""The public calendar scenarios: each file's operations against their expected values.

The scenarios live outside the repository, in the folder named by OPSDESK_SHARED_CASES
(default: the ``shared/cases`` folder beside the project checkout). Without that folder
these tests are skipped, unless OPSDESK_REQUIRE_SHARED_DATA=1, which makes them fail.

Only ``kind: calendar`` files are read here, with a minimal reader: each operation is an
``add`` (start, duration, expected instant) or a ``between`` (start, end, expected seconds).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from opsdesk.calendars import BusinessCalendar, parse_duration

_DEFAULT_CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
CASES_DIR = Path(os.environ.get("OPSDESK_SHARED_CASES") or _DEFAULT_CASES)
CASE_FILES = sorted(CASES_DIR.glob("handed/calendar-*.yaml"))


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("OPSDESK_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(f"{reason}, and OPSDESK_REQUIRE_SHARED_DATA=1 requires them")
    pytest.skip(reason)


def _instant(value: Any) -> datetime:
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"instant {value!r} has no offset"
    return parsed


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "case_file", CASE_FILES or [None], ids=[path.stem for path in CASE_FILES] or ["missing"]
)
def test_shared_calendar_case(case_file: Path | None) -> None:
    if case_file is None:
        _skip_or_fail(f"no calendar-*.yaml scenarios in {CASES_DIR / 'handed'}")
        return

    case = yaml.safe_load(case_file.read_text(encoding="utf-8"))
    assert case["kind"] == "calendar", f"{case_file.name} is not a calendar scenario"
    calendar = BusinessCalendar.from_mapping(case["calendar"])

    operations = case["operations"]
    assert operations, f"{case_file.name} has no operations"
    for index, operation in enumerate(operations):
        label = f"{case['id']} operation {index}: {operation}"
        start = _instant(operation["start"])
        if operation["op"] == "add":
            result = calendar.add(start, parse_duration(operation["duration"]))
            assert result == _instant(operation["expect"]), f"{label} returned {result}"
        elif operation["op"] == "between":
            worked = calendar.between(start, _instant(operation["end"]))
            assert worked == timedelta(seconds=operation["expect"]), f"{label} returned {worked}"
        else:
            pytest.fail(f"{label}: unknown op {operation['op']!r}")
