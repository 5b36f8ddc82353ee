"""`opsdesk sla recompute`: run in this process with typer's CliRunner on a SQLite file.

The command reads the database URL from OPSDESK_DATABASE_URL and uses the system clock.
The seeded ticket is a medium solar repair by phone on the standard policy, created on
Tuesday 10 March 2026 at 10:00 Lagos (09:00 UTC). The system clock is months later, so
its clocks have used up their targets and every due is the past instant it was reached.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sla_api_support import write_workspace_variant
from sqlalchemy import select
from typer.testing import CliRunner

from opsdesk.cli import app
from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.migrate import migrate
from opsdesk.settings import Settings, get_settings
from opsdesk.sla.models import SlaClock
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import TimelineEntry
from opsdesk.workspace import load_workspace
from support import EXAMPLE_WORKSPACE

STANDARD_MEDIUM = "      medium: {first_response: PT4H, resolution: PT24H}\n"
NOTHING_TO_DO = "SLA definitions unchanged since the last recompute; nothing to do (use --force)\n"
CREATED_AT = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def database_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A migrated SQLite file named by OPSDESK_DATABASE_URL, with one open ticket."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'opsdesk.db'}"
    migrate(url)
    asyncio.run(seed(url))
    # A .env file in the working folder would also be read; tmp_path has none.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    get_settings.cache_clear()


async def seed(url: str) -> None:
    db = Database(url)
    ctx = Context(
        workspace=load_workspace(EXAMPLE_WORKSPACE),
        clock=FrozenClock(CREATED_AT),
        settings=Settings(database_url=url),
    )
    request = tickets.NewTicket(
        name="Ada Obi",
        email="ada@example.com",
        phone="+234 803 555 0101",
        service_type="solar_repair",
        contact_method="phone_call",
        priority="medium",
        subject="Inverter beeps and shuts down",
        description="Since yesterday the inverter shuts down every hour.",
    )
    try:
        async with db.transaction() as session:
            await tickets.create_ticket(session, ctx, request, channel="api")
    finally:
        await db.dispose()


async def resolution_row(url: str) -> tuple[SlaClock, list[TimelineEntry]]:
    db = Database(url)
    try:
        async with db.read() as session:
            row = await session.scalar(select(SlaClock).where(SlaClock.metric == "resolution"))
            assert row is not None
            entries = list(
                (
                    await session.execute(
                        select(TimelineEntry).where(TimelineEntry.clock_id == row.id)
                    )
                ).scalars()
            )
        return row, entries
    finally:
        await db.dispose()


def recompute(config: Path, *options: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["sla", "recompute", "--config", str(config), *options])
    return result.exit_code, result.stdout, result.stderr


def test_recompute_prints_summary(database_file: str, tmp_path: Path) -> None:
    edited = write_workspace_variant(
        tmp_path, [(STANDARD_MEDIUM, STANDARD_MEDIUM.replace("PT24H", "PT30H"))], "medium-30h"
    )

    first = recompute(EXAMPLE_WORKSPACE)
    again = recompute(EXAMPLE_WORKSPACE)
    changed = recompute(edited)
    changed_again = recompute(edited)

    # No fingerprint was stored yet, so the first run checks the open ticket.
    assert first == (0, "1 tickets checked, 0 clocks moved, 0 tickets changed policy\n", "")
    assert again == (0, NOTHING_TO_DO, "")
    assert changed == (
        0,
        "1 tickets checked, 1 clocks moved, 0 tickets changed policy\n"
        "       1  target 24h became 30h\n",
        "",
    )
    assert changed_again == (0, NOTHING_TO_DO, "")
    row, entries = asyncio.run(resolution_row(database_file))
    assert row.target_seconds == 30 * 3600
    # 30h from Tue 10:00 Lagos: Tue 8h, Wed 10h, Thu 10h, Fri 08:00-10:00 Lagos.
    assert row.due_at == datetime(2026, 3, 13, 9, 0, tzinfo=UTC)
    assert [entry.kind for entry in entries] == ["sla.started", "sla.recomputed"]
    assert entries[1].data["causes"] == ["target 24h became 30h"]


def test_force_checks_unchanged_file(database_file: str) -> None:
    recompute(EXAMPLE_WORKSPACE)

    forced = recompute(EXAMPLE_WORKSPACE, "--force")

    assert forced == (0, "1 tickets checked, 0 clocks moved, 0 tickets changed policy\n", "")


def test_invalid_workspace_exits_2(database_file: str, tmp_path: Path) -> None:
    broken = write_workspace_variant(
        tmp_path, [(STANDARD_MEDIUM, STANDARD_MEDIUM.replace("PT24H", "PT24X"))], "broken"
    )

    code, stdout, stderr = recompute(broken)

    assert code == 2
    assert stdout == ""
    assert "sla_policies[1].targets.medium.resolution" in stderr
    row, entries = asyncio.run(resolution_row(database_file))
    assert row.target_seconds == 24 * 3600
    assert len(entries) == 1


def test_unmigrated_database_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPSDESK_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    get_settings.cache_clear()
    try:
        code, stdout, stderr = recompute(EXAMPLE_WORKSPACE)
    finally:
        get_settings.cache_clear()

    assert code == 2
    assert stdout == ""
    assert stderr.startswith("error: recomputing SLA clocks failed in the database: ")
    assert "opsdesk migrate" in stderr
    assert "Traceback" not in stderr
