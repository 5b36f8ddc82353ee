"""Every handed scenario file beside the project parses and previews to its expected values.

The folder comes from OPSDESK_SHARED_CASES, else `shared/cases` next to the project root.
Without it the test is skipped, unless OPSDESK_REQUIRE_SHARED_DATA=1 makes it fail.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from sla_case_checks import mismatches

from opsdesk.sla.preview import preview
from opsdesk.sla.scenario import load_scenario

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CASES_DIR = Path(os.environ.get("OPSDESK_SHARED_CASES", PROJECT_ROOT.parent / "shared" / "cases"))
REQUIRED = os.environ.get("OPSDESK_REQUIRE_SHARED_DATA") == "1"


def _case_files() -> list[Path]:
    handed = CASES_DIR / "handed"
    patterns = ("calendar-*.yaml", "clock-*.yaml")
    return sorted(path for pattern in patterns for path in handed.glob(pattern))


CASE_FILES = _case_files()


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "path", CASE_FILES or [None], ids=[path.stem for path in CASE_FILES] or ["missing"]
)
def test_handed_case(path: Path | None) -> None:
    if path is None:
        reason = f"no calendar-*.yaml or clock-*.yaml files in {CASES_DIR / 'handed'}"
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(f"{reason}; set OPSDESK_SHARED_CASES to the folder that contains handed/")
    scenario = load_scenario(path)
    output = preview(scenario)

    assert output["id"] == scenario.id == path.stem
    json.dumps(output)  # the CLI prints it as JSON
    assert mismatches(scenario, output) == []


@pytest.mark.shared_data
def test_handed_cases_present() -> None:
    if CASE_FILES:
        return
    reason = (
        f"no calendar-*.yaml or clock-*.yaml files in {CASES_DIR / 'handed'}; "
        "set OPSDESK_SHARED_CASES to the folder that contains handed/"
    )
    if REQUIRED:
        pytest.fail(reason + " (required because OPSDESK_REQUIRE_SHARED_DATA=1)")
    pytest.skip(reason)
