"""`opsdesk config check` and `opsdesk serve` with valid and broken workspace files."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from cli_support import EXAMPLE, ROOT, RunOpsdesk
from typer.testing import CliRunner

from opsdesk.cli import app
from opsdesk.errors import WorkspaceError
from opsdesk.workspace import load_workspace

EXPECTED_PREFIXES = (
    "sla_policies[1].targets: missing targets for priority 'urgent'",
    "pipelines[0].team: unknown team 'solar_team'",
    'calendars.lagos_office.holidays[0].country: unknown country code "XX"',
    "subscriptions[0].events[1]: unknown event type 'ticket.exploded'",
)


def problems_of(path: Path) -> list[str]:
    try:
        load_workspace(path, environ={})
    except WorkspaceError as exc:
        return exc.problems
    raise AssertionError(f"{path} loaded, but errors were expected")


def test_check_example_prints_summary() -> None:
    result = CliRunner().invoke(app, ["config", "check", str(EXAMPLE)])

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"{EXAMPLE}: valid. 10 service types, 5 pipelines, 2 calendars, 2 SLA policies, "
        "3 escalations, 1 subscription.\n"
    )
    assert result.stderr == ""


def test_check_replay_example_valid() -> None:
    path = ROOT / "examples" / "servicenow-replay.yaml"

    result = CliRunner().invoke(app, ["config", "check", str(path)])

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{path}: valid. 1 service type, 1 pipeline")


def test_broken_file_has_four_errors(broken_workspace: Path) -> None:
    problems = problems_of(broken_workspace)

    assert len(problems) == 4, problems
    for prefix in EXPECTED_PREFIXES:
        assert any(problem.startswith(prefix) for problem in problems), prefix


def test_check_broken_lists_every_error(broken_workspace: Path) -> None:
    result = CliRunner().invoke(app, ["config", "check", str(broken_workspace)])

    expected = [f"{broken_workspace} has 4 error(s):"] + [
        f"  {problem}" for problem in problems_of(broken_workspace)
    ]
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == expected


def test_check_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    result = CliRunner().invoke(app, ["config", "check", str(path)])

    assert result.exit_code == 2
    assert result.stderr == (
        f"{path} has 1 error(s):\n  file not found; pass an existing workspace file\n"
    )


def test_check_invalid_yaml(tmp_path: Path) -> None:
    path = tmp_path / "syntax.yaml"
    path.write_text("name: [Desk\npriorities: []\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["config", "check", str(path)])

    assert result.exit_code == 2
    assert result.stderr.splitlines()[1].startswith("  line 2, column 11: invalid YAML: ")


def test_check_subprocess_exit_codes(run_opsdesk: RunOpsdesk, broken_workspace: Path) -> None:
    valid = run_opsdesk("config", "check", str(EXAMPLE))
    broken = run_opsdesk("config", "check", str(broken_workspace))

    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith(f"{EXAMPLE}: valid.")
    assert broken.returncode == 2
    assert broken.stdout == ""
    assert broken.stderr.splitlines()[1:] == [
        f"  {problem}" for problem in problems_of(broken_workspace)
    ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_rejects_broken_file(run_opsdesk: RunOpsdesk, broken_workspace: Path) -> None:
    port = free_port()

    result = run_opsdesk(
        "serve", "--config", str(broken_workspace), "--host", "127.0.0.1", "--port", str(port)
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [f"{broken_workspace} has 4 error(s):"] + [
        f"  {problem}" for problem in problems_of(broken_workspace)
    ]
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as client:
        assert client.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("command", ["worker", "users"])
def test_other_commands_reject_broken_file(
    run_opsdesk: RunOpsdesk, broken_workspace: Path, command: str
) -> None:
    args = ["worker"] if command == "worker" else ["users", "create"]
    if command == "users":
        args += ["--email", "x@example.com", "--role", "admin"]

    result = run_opsdesk(*args, "--config", str(broken_workspace))

    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"{broken_workspace} has 4 error(s):"


def test_check_reports_bad_duration(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    old = "urgent: {first_response: PT30M, resolution: PT4H}"
    assert text.count(old) == 1
    path = tmp_path / "duration.yaml"
    path.write_text(text.replace(old, "urgent: {first_response: PT30M, resolution: 4hours}"))

    result = CliRunner().invoke(app, ["config", "check", str(path)])

    lines = result.stderr.splitlines()
    assert result.exit_code == 2
    assert lines[0] == f"{path} has 1 error(s):"
    assert lines[1].startswith(
        '  sla_policies[1].targets.urgent.resolution: invalid duration "4hours": '
    )
    assert lines[1].endswith(f"(line {text[: text.index(old)].count(chr(10)) + 1})")
