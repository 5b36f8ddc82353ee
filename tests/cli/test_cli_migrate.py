"""`opsdesk migrate` against a database it cannot open: one clear line, no traceback."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from opsdesk.cli import app

DEFAULT_POSTGRES_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def test_migrate_missing_postgres_database() -> None:
    server = make_url(os.environ.get("OPSDESK_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    missing = server.set(database=f"opsdesk_missing_{uuid.uuid4().hex[:8]}", password="s3cret")
    url = missing.render_as_string(hide_password=False)

    result = CliRunner().invoke(app, ["migrate", "--database", url])

    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "s3cret" not in result.output
    assert "error: cannot open the database" in result.output
    assert f'database "{missing.database}" does not exist' in result.output
    assert "createdb" in result.output


def test_migrate_sqlite_in_missing_folder(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/no-such-folder/opsdesk.db"

    result = CliRunner().invoke(app, ["migrate", "--database", url])

    assert result.exit_code == 1
    assert "unable to open database file" in result.output


def test_migrate_unreachable_server() -> None:
    # Port 9 (discard) has no PostgreSQL behind it on a test machine.
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/opsdesk"

    result = CliRunner().invoke(app, ["migrate", "--database", url])

    assert result.exit_code == 1
    assert "error: cannot open the database postgresql+asyncpg://postgres@127.0.0.1:9/opsdesk" in (
        result.output
    )
