"""Fixtures of the CLI tests: a broken workspace file, a migrated database, a runner."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cli_support import BROKEN_EDITS, EXAMPLE, RunOpsdesk, run_in


@pytest.fixture
def run_opsdesk(tmp_path: Path) -> RunOpsdesk:
    """Run the installed `opsdesk` script in `tmp_path`."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_in(tmp_path, *args)

    return run


@pytest.fixture
def broken_workspace(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text(encoding="utf-8")
    for old, new in BROKEN_EDITS:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated by `opsdesk migrate`, which each test copies."""
    folder = tmp_path_factory.mktemp("cli-database")
    path = folder / "template.db"

    result = run_in(folder, "migrate", "--database", f"sqlite+aiosqlite:///{path}")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "database schema is up to date\n"
    return path


@pytest.fixture
def cli_database_url(tmp_path: Path, migrated_template: Path) -> str:
    path = tmp_path / "opsdesk.db"
    shutil.copyfile(migrated_template, path)
    return f"sqlite+aiosqlite:///{path}"
