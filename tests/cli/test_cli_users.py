"""`opsdesk users create`: accounts, printed API tokens and the errors of bad input."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cli_support import EXAMPLE, RunOpsdesk
from sqlalchemy import select
from typer.testing import CliRunner

from opsdesk.cli import app
from opsdesk.db import Database
from opsdesk.users.models import TeamMember, User
from opsdesk.users.service import TOKEN_PREFIX, authenticate_token


def create(database_url: str, *args: str) -> tuple[int, str, str]:
    """Run `users create` in process; return the exit code, stdout and stderr."""
    command = ["users", "create", "--config", str(EXAMPLE), "--database", database_url, *args]
    result = CliRunner().invoke(app, command)
    return result.exit_code, result.stdout, result.stderr


async def email_of_token(database_url: str, token: str) -> str:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            user, _ = await authenticate_token(session, token)
            return user.email
    finally:
        await db.dispose()


async def stored_user(database_url: str, email: str) -> tuple[User, list[str]]:
    db = Database(database_url)
    try:
        async with db.transaction() as session:
            user = (await session.execute(select(User).where(User.email == email))).scalar_one()
            teams = (
                await session.execute(select(TeamMember.team).where(TeamMember.user_id == user.id))
            ).scalars()
            return user, sorted(teams)
    finally:
        await db.dispose()


def test_create_admin_prints_working_token(run_opsdesk: RunOpsdesk, cli_database_url: str) -> None:
    result = run_opsdesk(
        "users",
        "create",
        "--email",
        "x@example.com",
        "--role",
        "admin",
        "--token",
        "--config",
        str(EXAMPLE),
        "--database",
        cli_database_url,
    )

    lines = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert lines[0] == "created admin x@example.com"
    assert len(lines) == 2
    assert lines[1].startswith(TOKEN_PREFIX)
    assert result.stderr == "API token (shown only now; store it safely):\n"
    assert asyncio.run(email_of_token(cli_database_url, lines[1])) == "x@example.com"


def test_create_without_token_prints_none(cli_database_url: str) -> None:
    code, stdout, stderr = create(cli_database_url, "--email", "a@example.com", "--role", "agent")

    assert code == 0, stderr
    assert stdout == "created agent a@example.com\n"
    assert stderr == ""


def test_create_stores_name_and_teams(cli_database_url: str) -> None:
    code, _, stderr = create(
        cli_database_url,
        "--email",
        "Tech@Example.com",
        "--role",
        "technician",
        "--name",
        "Ada Obi",
        "--team",
        "solar_crew",
        "--team",
        "hvac_crew",
    )

    user, teams = asyncio.run(stored_user(cli_database_url, "tech@example.com"))
    assert code == 0, stderr
    assert user.name == "Ada Obi"
    assert user.role == "technician"
    assert teams == ["hvac_crew", "solar_crew"]


def test_repeated_team_stored_once(cli_database_url: str) -> None:
    code, _, stderr = create(
        cli_database_url,
        "--email",
        "t@example.com",
        "--role",
        "technician",
        "--team",
        "solar_crew",
        "--team",
        "solar_crew",
    )

    _, teams = asyncio.run(stored_user(cli_database_url, "t@example.com"))
    assert code == 0, stderr
    assert teams == ["solar_crew"]


def test_duplicate_email_rejected(cli_database_url: str) -> None:
    first = create(cli_database_url, "--email", "x@example.com", "--role", "admin")

    code, stdout, stderr = create(
        cli_database_url, "--email", "X@Example.com", "--role", "agent", "--token"
    )

    assert first[0] == 0, first[2]
    assert code == 2
    assert stdout == ""
    assert stderr == "error: a user with e-mail x@example.com already exists\n"


def test_unknown_role_rejected(cli_database_url: str) -> None:
    code, stdout, stderr = create(cli_database_url, "--email", "x@example.com", "--role", "boss")

    assert code == 2
    assert stdout == ""
    assert stderr == (
        "error: unknown role 'boss'; expected one of agent, technician, supervisor, admin\n"
    )


def test_unknown_team_rejected(cli_database_url: str) -> None:
    code, stdout, stderr = create(
        cli_database_url, "--email", "x@example.com", "--role", "agent", "--team", "plumbers"
    )

    assert code == 2
    assert stdout == ""
    assert stderr.startswith("error: unknown team 'plumbers'; expected one of electrical_crew, ")


def test_invalid_email_rejected(cli_database_url: str) -> None:
    code, _, stderr = create(cli_database_url, "--email", "nobody", "--role", "agent")

    assert code == 2
    assert stderr == "error: invalid e-mail address 'nobody'\n"


def test_rejected_user_not_stored(cli_database_url: str) -> None:
    create(cli_database_url, "--email", "x@example.com", "--role", "agent", "--team", "plumbers")

    code, _, stderr = create(cli_database_url, "--email", "x@example.com", "--role", "agent")

    assert code == 0, stderr


def test_unmigrated_database_rejected(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"

    code, stdout, stderr = create(url, "--email", "x@example.com", "--role", "admin")

    assert code == 2
    assert stdout == ""
    assert stderr == (
        "error: creating the user failed in the database: no such table: users; check "
        "--database (or OPSDESK_DATABASE_URL) and run `opsdesk migrate` on it first\n"
    )
