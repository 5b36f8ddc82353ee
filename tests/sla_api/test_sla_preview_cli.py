"""`opsdesk sla preview FILE` and POST /api/v1/sla/preview compute the same scenario values.

The handed scenario files come from OPSDESK_SHARED_CASES, else the `shared/cases` folder
next to the project root. Tests that need them skip when the folder is absent, and fail
instead when OPSDESK_REQUIRE_SHARED_DATA=1.
"""

from __future__ import annotations

import copy
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from typer.testing import CliRunner

from api.api_support import MakeUser, error_of
from opsdesk.cli import app
from support import ROOT

CASES_DIR = Path(os.environ.get("OPSDESK_SHARED_CASES", ROOT.parent / "shared" / "cases"))
CASE_IDS = ["clock-010", "clock-018", "clock-042"]
OFFICE_HOURS = [["08:00", "18:00"]]
LAGOS_STORY: dict[str, Any] = {
    # The Lagos front desk's week, and a ticket created Tue 10 March 2026 at 10:00 Lagos
    # that waits on the customer from 11:00 to 13:00 Lagos.
    "id": "lagos-pause",
    "kind": "clock",
    "calendar": {
        "timezone": "Africa/Lagos",
        "hours": {
            **{day: OFFICE_HOURS for day in ("mon", "tue", "wed", "thu", "fri")},
            "sat": [["09:00", "14:00"]],
            "sun": [],
        },
    },
    "policy": {
        "targets": {"first_response": "PT4H", "resolution": "PT24H"},
        "pause_on": ["waiting_on_customer"],
        "stop_on": {"resolution": ["resolved"]},
    },
    "events": [
        {"at": "2026-03-10T09:00:00Z", "type": "created", "status": "new"},
        {"at": "2026-03-10T10:00:00Z", "type": "status", "status": "waiting_on_customer"},
        {"at": "2026-03-10T12:00:00Z", "type": "status", "status": "open"},
    ],
    "expect": [{"at": "2026-03-10T12:30:00Z", "resolution": {"business_seconds_elapsed": 5400}}],
}
METRICS = ("first_response", "next_response", "resolution")
VALUE_KEYS = {"due", "breached", "business_seconds_elapsed", "paused_business_seconds"}


def case_file(case_id: str) -> Path:
    """Return the handed scenario file, or skip (fail when required) if it is absent."""
    path = CASES_DIR / "handed" / f"{case_id}.yaml"
    if path.is_file():
        return path
    message = f"{path} not found; set OPSDESK_SHARED_CASES to the folder that contains handed/"
    if os.environ.get("OPSDESK_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(message + " (required because OPSDESK_REQUIRE_SHARED_DATA=1)")
    pytest.skip(message)


def case_data(case_id: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(case_file(case_id).read_text(encoding="utf-8"))
    return data


def write_scenario(folder: Path, data: dict[str, Any]) -> Path:
    path = folder / "scenario.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def run_preview(path: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sla", "preview", str(path)])
    return result.exit_code, result.stdout, result.stderr


def same_value(expected: object, printed: object) -> bool:
    """Compare one expected value with the printed one; instants compare as moments."""
    if isinstance(expected, str):
        return isinstance(printed, str) and (
            datetime.fromisoformat(expected) == datetime.fromisoformat(printed)
        )
    if isinstance(expected, bool) or expected is None:
        return printed is expected
    return printed == expected and type(printed) is type(expected)


def expectation_mismatches(data: dict[str, Any], output: dict[str, Any]) -> list[str]:
    """Return one line per value the scenario's `expect` names that the output differs in."""
    problems = []
    for index, (checkpoint, printed) in enumerate(
        zip(data["expect"], output["checkpoints"], strict=True)
    ):
        if "at" in checkpoint and not same_value(checkpoint["at"], printed["at"]):
            problems.append(f"expect[{index}].at: printed {printed['at']!r}")
        for metric in METRICS:
            for key, value in checkpoint.get(metric, {}).items():
                got = printed[metric][key]
                if not same_value(value, got):
                    problems.append(f"expect[{index}].{metric}.{key}: {value!r} != {got!r}")
    return problems


@pytest.mark.shared_data
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_cli_prints_expected_values(case_id: str) -> None:
    data = case_data(case_id)

    code, stdout, stderr = run_preview(case_file(case_id))

    assert code == 0, stderr
    assert stderr == ""
    output = json.loads(stdout)
    assert set(output) == {"id", "checkpoints"}
    assert output["id"] == case_id
    assert len(output["checkpoints"]) == len(data["expect"])
    for checkpoint in output["checkpoints"]:
        assert set(checkpoint) == {"at", *METRICS}
        for metric in METRICS:
            assert set(checkpoint[metric]) == VALUE_KEYS
            assert checkpoint[metric]["due"] is None or checkpoint[metric]["due"].endswith("Z")
    assert expectation_mismatches(data, output) == []


@pytest.mark.shared_data
def test_cli_values_of_paused_case() -> None:
    code, stdout, _ = run_preview(case_file("clock-018"))

    # Berlin is UTC+2 in June, so the 09:00-18:00 day is 07:00-16:00 UTC. Created at
    # 09:00 UTC in a pause status, the clocks run only 10:30-11:00 UTC (1800 s) and are
    # paused 09:00-10:30 and 11:00-12:00 UTC (9000 s). Each due adds the rest of its
    # target to 12:00 UTC: first_response 1h 30m, next_response 2h 30m, resolution 3h 30m.
    assert code == 0
    [checkpoint] = json.loads(stdout)["checkpoints"]
    assert checkpoint["at"] == "2013-06-04T12:00:00Z"
    for metric, due in (
        ("first_response", "2013-06-04T13:30:00Z"),
        ("next_response", "2013-06-04T14:30:00Z"),
        ("resolution", "2013-06-04T15:30:00Z"),
    ):
        assert checkpoint[metric] == {
            "due": due,
            "breached": False,
            "business_seconds_elapsed": 1800,
            "paused_business_seconds": 9000,
        }


def test_cli_previews_lagos_story(tmp_path: Path) -> None:
    code, stdout, stderr = run_preview(write_scenario(tmp_path, LAGOS_STORY))

    # The same story on a real ticket gives the same values in its SLA view: resolution
    # ran 10:00-11:00 and 13:00-13:30 Lagos, and the 2h pause moved its due from Thu
    # 14:00 to Thu 16:00 Lagos. first_response never paused.
    assert code == 0, stderr
    [checkpoint] = json.loads(stdout)["checkpoints"]
    assert checkpoint["resolution"] == {
        "due": "2026-03-12T15:00:00Z",
        "breached": False,
        "business_seconds_elapsed": 5400,
        "paused_business_seconds": 7200,
    }
    assert checkpoint["first_response"] == {
        "due": "2026-03-10T13:00:00Z",
        "breached": False,
        "business_seconds_elapsed": 12600,
        "paused_business_seconds": 0,
    }


MALFORMED = [
    (lambda data: data.update(bogus=1), "bogus"),
    (
        lambda data: data["policy"]["targets"].update(resolution="4 hours"),
        "policy.targets.resolution",
    ),
    (lambda data: data["policy"]["targets"].update(resolution=4), "policy.targets.resolution"),
    (lambda data: data.pop("expect"), "expect"),
    (lambda data: data["events"][1].update(type="escalated"), "events[1].type"),
    (lambda data: data["calendar"].update(timezone="Mars/Olympus"), "calendar.timezone"),
    (lambda data: data["events"][1].update(at="2026-03-10 10:00"), "events[1].at"),
    (lambda data: data["events"][0].update(at="2026-03-10T09:00:00"), "events[0].at"),
]
MALFORMED_IDS = [
    "unknown-key",
    "bad-duration",
    "number-duration",
    "missing-expect",
    "unknown-event",
    "bad-zone",
    "bad-instant",
    "naive-instant",
]


@pytest.mark.parametrize(("change", "key"), MALFORMED, ids=MALFORMED_IDS)
def test_cli_rejects_malformed_file(change: Any, key: str, tmp_path: Path) -> None:
    data = copy.deepcopy(LAGOS_STORY)
    change(data)
    path = write_scenario(tmp_path, data)

    code, stdout, stderr = run_preview(path)

    assert code == 2
    assert stdout == ""
    assert stderr.startswith(f"{path}: {key}: "), stderr


def test_cli_rejects_missing_file(tmp_path: Path) -> None:
    code, stdout, stderr = run_preview(tmp_path / "absent.yaml")

    assert code == 2
    assert stdout == ""
    assert "cannot read the file" in stderr


# POST /api/v1/sla/preview


@pytest.mark.shared_data
@pytest.mark.parametrize("case_id", CASE_IDS)
async def test_api_matches_cli(
    client: httpx.AsyncClient, make_user: MakeUser, case_id: str
) -> None:
    agent = await make_user("agent")
    data = case_data(case_id)
    _, stdout, _ = run_preview(case_file(case_id))

    response = await client.post("/api/v1/sla/preview", json=data, headers=agent.headers)

    assert response.status_code == 200, response.text
    assert response.json() == json.loads(stdout)
    assert expectation_mismatches(data, response.json()) == []


async def test_api_matches_cli_on_own_scenario(
    client: httpx.AsyncClient, make_user: MakeUser, tmp_path: Path
) -> None:
    agent = await make_user("agent")
    _, stdout, _ = run_preview(write_scenario(tmp_path, LAGOS_STORY))

    response = await client.post("/api/v1/sla/preview", json=LAGOS_STORY, headers=agent.headers)

    assert response.status_code == 200, response.text
    assert response.json() == json.loads(stdout)


@pytest.mark.parametrize(("change", "key"), MALFORMED, ids=MALFORMED_IDS)
async def test_api_rejects_malformed_scenario(
    client: httpx.AsyncClient, make_user: MakeUser, change: Any, key: str
) -> None:
    agent = await make_user("agent")
    data = copy.deepcopy(LAGOS_STORY)
    change(data)

    response = await client.post("/api/v1/sla/preview", json=data, headers=agent.headers)

    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert error["message"].startswith(f"{key}: "), error


@pytest.mark.parametrize("body", [[], "clock-018", None], ids=["list", "string", "null"])
async def test_api_rejects_non_object(
    client: httpx.AsyncClient, make_user: MakeUser, body: object
) -> None:
    agent = await make_user("agent")

    response = await client.post("/api/v1/sla/preview", json=body, headers=agent.headers)

    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == "invalid_input"


@pytest.mark.parametrize("role", ["technician", "supervisor", "admin"])
async def test_api_open_to_staff(client: httpx.AsyncClient, make_user: MakeUser, role: str) -> None:
    user = await make_user(role)
    scenario = {
        "id": "staff-check",
        "kind": "calendar",
        "calendar": {"timezone": "UTC", "hours": {"mon": [["09:00", "17:00"]]}},
        # 2026-03-09 is a Monday: 10:00 plus 2h of working time is 12:00.
        "operations": [
            {
                "op": "add",
                "start": "2026-03-09T10:00:00Z",
                "duration": "PT2H",
                "expect": "2026-03-09T12:00:00Z",
            },
            {
                "op": "between",
                "start": "2026-03-09T08:00:00Z",
                "end": "2026-03-10T08:00:00Z",
                "expect": 28800,
            },
        ],
    }

    response = await client.post("/api/v1/sla/preview", json=scenario, headers=user.headers)

    assert response.status_code == 200, response.text
    assert response.json() == {"id": "staff-check", "results": ["2026-03-09T12:00:00Z", 28800]}


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer odt_not-a-real-token"}],
    ids=["no-token", "unknown-token"],
)
async def test_api_needs_a_token(client: httpx.AsyncClient, headers: dict[str, str]) -> None:
    response = await client.post("/api/v1/sla/preview", json={"id": "x"}, headers=headers)

    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "unauthorized"
