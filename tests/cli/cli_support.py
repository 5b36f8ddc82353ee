"""Paths and helpers shared by the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "technical-services.yaml"
OPSDESK = Path(sys.executable).parent / "opsdesk"
COMMAND_TIMEOUT_SECONDS = 120

# Four mistakes in different sections of the example file, each reported on its own line.
# All are found by the checks that run once the structure is valid, so all four are listed.
BROKEN_EDITS = (
    ("      urgent: {first_response: PT30M, resolution: PT4H}\n", ""),
    ("    team: solar_crew\n", "    team: solar_team\n"),
    ("      - {country: NG}            #", "      - {country: XX}            #"),
    ("events: [ticket.created, sla.breached]", "events: [ticket.created, ticket.exploded]"),
)

RunOpsdesk = Callable[..., subprocess.CompletedProcess[str]]


def clean_environment(folder: Path) -> dict[str, str]:
    """Return the environment without OPSDESK_ settings, so only the command line counts."""
    environ = {name: value for name, value in os.environ.items() if not name.startswith("OPSDESK_")}
    # A command that starts despite an error must not write beside the project.
    environ["OPSDESK_DATABASE_URL"] = f"sqlite+aiosqlite:///{folder / 'unused.db'}"
    return environ


def run_in(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the installed `opsdesk` script in `folder` and return its result."""
    return subprocess.run(
        [str(OPSDESK), *args],
        cwd=folder,
        env=clean_environment(folder),
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
