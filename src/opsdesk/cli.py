"""Command-line interface: `opsdesk --help` lists the commands."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Coroutine
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Optional
from urllib.parse import urlsplit

import typer
import uvicorn
from prometheus_client import start_http_server
from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from opsdesk.clock import SystemClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.errors import NotFound, OpsdeskError, WorkspaceError
from opsdesk.logs import configure_logging
from opsdesk.mail.service import ingest_message
from opsdesk.metrics import REGISTRY
from opsdesk.migrate import migrate as run_migrations
from opsdesk.replay.report import ReplayReport, format_text
from opsdesk.replay.runner import replay
from opsdesk.settings import Settings, get_settings
from opsdesk.sla.preview import preview
from opsdesk.sla.recompute import RecomputeSummary, recompute_open_clocks
from opsdesk.sla.scenario import ScenarioError, load_scenario
from opsdesk.users import auth
from opsdesk.users import service as users
from opsdesk.web.app import create_app
from opsdesk.web.errors import is_connection_error
from opsdesk.webhooks.service import sync_workspace_subscriptions
from opsdesk.worker.runner import Worker
from opsdesk.workspace import Workspace, load_workspace

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Opsdesk service desk.")
config_app = typer.Typer(no_args_is_help=True, help="Check workspace files.")
users_app = typer.Typer(no_args_is_help=True, help="Manage staff accounts.")
sla_app = typer.Typer(no_args_is_help=True, help="SLA tools.")
mail_app = typer.Typer(no_args_is_help=True, help="E-mail intake.")
app.add_typer(config_app, name="config")
app.add_typer(users_app, name="users")
app.add_typer(sla_app, name="sla")
app.add_typer(mail_app, name="mail")

ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045 - Typer reads the annotation at run time
    typer.Option("--config", "-c", help="Workspace YAML file (default: OPSDESK_WORKSPACE)."),
]
PasswordOption = Annotated[
    bool, typer.Option("--password", help="Ask for a console sign-in password (hidden).")
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the console password from the first line of stdin."
    ),
]
DatabaseOption = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--database", help="Database URL (default: OPSDESK_DATABASE_URL)."),
]


def main() -> None:
    app()


def _configure_logging(settings: Settings) -> None:
    configure_logging(settings.log_level)


def _load(config: Path | None, settings: Settings) -> Workspace:
    path = config or settings.workspace
    try:
        return load_workspace(path)
    except WorkspaceError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


def _settings(database: str | None = None) -> Settings:
    settings = get_settings()
    if database is None:
        return settings
    try:
        # Validated like the environment variable, so an unsupported driver is refused
        # here rather than failing deep inside SQLAlchemy.
        return Settings.model_validate(settings.model_dump() | {"database_url": database})
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        typer.echo(f"error: --database: {message}", err=True)
        raise typer.Exit(2) from exc


@config_app.command("check")
def config_check(
    file: Annotated[Path, typer.Argument(help="Workspace YAML file to check.")],
) -> None:
    """Check a workspace file and list every error with its path; exit code 2 if any."""
    try:
        workspace = load_workspace(file)
    except WorkspaceError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    spec = workspace.spec
    counts = [
        _count(len(spec.service_types), "service type"),
        _count(len(spec.pipelines), "pipeline"),
        _count(len(spec.calendars), "calendar"),
        _count(len(spec.sla_policies), "SLA policy", "SLA policies"),
        _count(len(spec.escalations), "escalation"),
        _count(len(spec.subscriptions), "subscription"),
    ]
    typer.echo(f"{file}: valid. {', '.join(counts)}.")


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


@app.command()
def migrate(database: DatabaseOption = None) -> None:
    """Create or upgrade the database schema to this release."""
    settings = _settings(database)
    _configure_logging(settings)
    try:
        run_migrations(settings.database_url)
    except (DBAPIError, OSError) as exc:
        if isinstance(exc, DBAPIError) and not _cannot_open(exc):
            raise
        reason = str(exc.orig if isinstance(exc, DBAPIError) else exc).strip().splitlines()[0]
        safe_url = make_url(settings.database_url).render_as_string(hide_password=True)
        typer.echo(
            f"error: cannot open the database {safe_url}: {reason}\n"
            "Check OPSDESK_DATABASE_URL (or --database) and that the server runs. A "
            "PostgreSQL database must exist first: createdb -h HOST -U USER NAME",
            err=True,
        )
        raise typer.Exit(1) from exc
    typer.echo("database schema is up to date")


def _cannot_open(exc: DBAPIError) -> bool:
    # SQLSTATE 3D000 is a missing database and class 28 a failed authentication. SQLite
    # reports a missing folder or an unreadable file only in its message.
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
    if sqlstate == "3D000" or sqlstate.startswith("28"):
        return True
    return is_connection_error(exc) or "unable to open database" in str(exc.orig)


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8000,
    worker: Annotated[
        bool,
        typer.Option("--worker/--no-worker", help="Run the background worker in this process."),
    ] = True,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", min=1, help="API processes sharing the port (PostgreSQL only above 1)."
        ),
    ] = 1,
) -> None:
    """Serve the API, portal and console, by default with an in-process worker."""
    settings = get_settings()
    _configure_logging(settings)
    workspace = _load(config, settings)
    base = urlsplit(settings.base_url)
    base_port = base.port or (443 if base.scheme == "https" else 80)
    if base_port != port and base.hostname in {"127.0.0.1", "localhost"}:
        logging.getLogger(__name__).warning(
            "OPSDESK_BASE_URL is %s but this server listens on port %d, so status links "
            "will point elsewhere; set OPSDESK_BASE_URL to the address customers use",
            settings.base_url,
            port,
        )
    log_level = settings.log_level.lower()
    if workers == 1:
        application = create_app(settings=settings, workspace=workspace, run_worker=worker)
        uvicorn.run(application, host=host, port=port, log_level=log_level, log_config=None)
        return
    if not settings.database_url.startswith("postgresql"):
        typer.echo(
            "error: --workers above 1 needs PostgreSQL (OPSDESK_DATABASE_URL="
            "postgresql+asyncpg://...); SQLite has one writer at a time, so run one process",
            err=True,
        )
        raise typer.Exit(2)
    # uvicorn starts each process afresh; they read the workspace and the worker choice
    # from the environment this process hands down.
    os.environ["OPSDESK_WORKSPACE"] = str(Path(workspace.source).resolve())
    os.environ["OPSDESK_SERVE_WORKER"] = "true" if worker else "false"
    uvicorn.run(
        "opsdesk.web.asgi:create_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,
    )


@app.command("worker")
def worker_command(
    config: ConfigOption = None,
    metrics_port: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(help="Serve this process's Prometheus metrics on this port."),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Address for --metrics-port to listen on.")
    ] = "127.0.0.1",
) -> None:
    """Run a background worker: fire SLA timers and deliver webhooks until SIGTERM."""
    settings = get_settings()
    _configure_logging(settings)
    workspace = _load(config, settings)
    if metrics_port is not None:
        try:
            start_http_server(metrics_port, addr=metrics_host, registry=REGISTRY)
        except OSError as exc:
            typer.echo(
                f"error: cannot serve metrics on {metrics_host}:{metrics_port}: {exc}", err=True
            )
            raise typer.Exit(1) from exc

    async def run() -> None:
        db = Database(settings.database_url)
        ctx = Context(workspace=workspace, clock=SystemClock(), settings=settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with db.transaction() as session:
                await sync_workspace_subscriptions(session, workspace, at=ctx.clock.now())
            await recompute_open_clocks(db, ctx)
            await Worker(db, ctx).run(stop)
        finally:
            await db.dispose()

    _run_event_loop(run())


def _run_event_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run `main` on uvloop where it is installed, as uvicorn runs `opsdesk serve`.

    A worker is woken by every commit that writes an event, and on the default asyncio
    loop much of its CPU time went into the event loop itself.
    """
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option(help="E-mail address; also the sign-in name.")],
    role: Annotated[str, typer.Option(help="agent, technician, supervisor or admin.")],
    name: Annotated[str, typer.Option(help="Display name (default: the e-mail address).")] = "",
    team: Annotated[Optional[list[str]], typer.Option(help="Team key; repeat for several.")] = None,  # noqa: UP045
    token: Annotated[
        bool, typer.Option("--token", help="Also create an API token and print it once.")
    ] = False,
    password: PasswordOption = False,
    password_stdin: PasswordStdinOption = False,
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Create a staff account, optionally with a console password and an API token."""
    settings = _settings(database)
    workspace = _load(config, settings)
    new_password = _read_password(password, password_stdin)

    async def run() -> str | None:
        db = Database(settings.database_url)
        clock = SystemClock()
        try:
            async with db.transaction() as session:
                user = await users.create_user(
                    session,
                    email=email,
                    name=name,
                    role=role,
                    # A repeated --team would insert the same membership row twice.
                    teams=list(dict.fromkeys(team or [])),
                    known_teams=[known.key for known in workspace.spec.teams],
                    at=clock.now(),
                )
                if new_password is not None:
                    await auth.set_password(session, user=user, password=new_password)
                if not token:
                    return None
                return users.issue_token(
                    session, user=user, name="created by opsdesk users create", at=clock.now()
                ).secret
        finally:
            await db.dispose()

    try:
        secret = asyncio.run(run())
    except OpsdeskError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except (DBAPIError, OSError) as exc:
        # The URL is left out of the message because it may contain a password.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        typer.echo(
            f"error: creating the user failed in the database: {reason}; check --database "
            "(or OPSDESK_DATABASE_URL) and run `opsdesk migrate` on it first",
            err=True,
        )
        raise typer.Exit(2) from exc
    typer.echo(f"created {role} {email}")
    if secret is not None:
        typer.echo("API token (shown only now; store it safely):", err=True)
        typer.echo(secret)


@users_app.command("set-password")
def users_set_password(
    email: Annotated[str, typer.Option(help="E-mail address of the account.")],
    password_stdin: PasswordStdinOption = False,
    database: DatabaseOption = None,
) -> None:
    """Set a console password; it also ends the account's sessions and lifts a lockout."""
    settings = _settings(database)
    new_password = _read_password(not password_stdin, password_stdin)
    assert new_password is not None

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                found = await users.users_with(session, email=email)
                if not found:
                    raise NotFound(f"no active user with e-mail {email}")
                await auth.set_password(session, user=found[0], password=new_password)
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except OpsdeskError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"password set for {email}")


def _read_password(prompt: bool, from_stdin: bool) -> str | None:
    """Return a new password from a hidden prompt or the first line of standard input."""
    if from_stdin:
        text = sys.stdin.readline().rstrip("\n")
    elif prompt:
        text = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        return None
    if len(text) < auth.MIN_PASSWORD_LENGTH:
        typer.echo(
            f"error: use a password of at least {auth.MIN_PASSWORD_LENGTH} characters", err=True
        )
        raise typer.Exit(2)
    return text


class ReplayOutput(StrEnum):
    TEXT = "text"
    JSON = "json"


@app.command("replay")
def replay_command(
    file: Annotated[Path, typer.Argument(help="ServiceNow incident log (CSV, optionally gzip).")],
    workspace_file: Annotated[
        Path, typer.Option("--workspace", help="Workspace YAML file for the replay.")
    ],
    database: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="Empty database to replay into (default: a temporary SQLite file)."),
    ] = None,
    output: Annotated[ReplayOutput, typer.Option(help="Report format.")] = ReplayOutput.TEXT,
) -> None:
    """Replay a historical incident log through Opsdesk and print an SLA report."""
    settings = get_settings()
    _configure_logging(settings)
    workspace = _load(workspace_file, settings)
    if not file.exists():
        typer.echo(f"error: {file} not found", err=True)
        raise typer.Exit(2)
    with tempfile.TemporaryDirectory(prefix="opsdesk-replay-") as folder:
        url = database or f"sqlite+aiosqlite:///{Path(folder) / 'replay.db'}"
        run_migrations(url)

        async def run() -> ReplayReport:
            db = Database(url)
            try:
                return await replay(file, workspace=workspace, database=db, settings=settings)
            finally:
                await db.dispose()

        try:
            report = asyncio.run(run())
        except OpsdeskError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(2) from exc
    if output is ReplayOutput.JSON:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(format_text(report))


@sla_app.command("recompute")
def sla_recompute(
    config: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Check every open clock even if the file is unchanged.")
    ] = False,
) -> None:
    """Recompute open SLA clocks after the workspace's policies or calendars changed.

    `serve` and `worker` do this at start; this command shows what moved.
    """
    settings = get_settings()
    _configure_logging(settings)
    workspace = _load(config, settings)

    async def run() -> RecomputeSummary:
        db = Database(settings.database_url)
        try:
            ctx = Context(workspace=workspace, clock=SystemClock(), settings=settings)
            return await recompute_open_clocks(db, ctx, force=force)
        finally:
            await db.dispose()

    try:
        summary = asyncio.run(run())
    except OpsdeskError as exc:
        # For example a ticket's pipeline that the file no longer defines.
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except (DBAPIError, OSError) as exc:
        # The URL is left out of the message because it may contain a password.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        typer.echo(
            f"error: recomputing SLA clocks failed in the database: {reason}; check "
            "OPSDESK_DATABASE_URL and run `opsdesk migrate` on it first",
            err=True,
        )
        raise typer.Exit(2) from exc
    if summary.skipped_unchanged_workspace:
        typer.echo(
            "SLA definitions unchanged since the last recompute; nothing to do (use --force)"
        )
        return
    typer.echo(
        f"{summary.tickets_checked} tickets checked, {summary.clocks_changed} clocks moved, "
        f"{summary.policies_switched} tickets changed policy"
    )
    for cause, count in sorted(summary.causes.items()):
        typer.echo(f"  {count:6d}  {cause}")


@sla_app.command("preview")
def sla_preview(file: Annotated[Path, typer.Argument(help="SLA scenario YAML file.")]) -> None:
    """Compute an SLA scenario file and print its values as JSON."""
    try:
        result = preview(load_scenario(file))
    except ScenarioError as exc:
        typer.echo(f"{file}: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(result, indent=2))


@mail_app.command("ingest")
def mail_ingest(
    files: Annotated[list[Path], typer.Argument(help="Raw RFC 5322 message files (.eml).")],
    config: ConfigOption = None,
    database: DatabaseOption = None,
) -> None:
    """Ingest raw e-mail files, each in its own transaction, and print one line per file.

    Each line says "created SR-…", "threaded onto SR-…" or "ignored: <reason>". Exit code
    1 if a file cannot be read (the others are still ingested), 2 if e-mail intake is
    not configured or the database fails.
    """
    settings = _settings(database)
    _configure_logging(settings)
    workspace = _load(config, settings)

    async def run() -> int:
        db = Database(settings.database_url)
        unreadable = 0
        try:
            ctx = Context(workspace=workspace, clock=SystemClock(), settings=settings)
            for file in files:
                try:
                    raw = file.read_bytes()
                except OSError as exc:
                    typer.echo(f"{file}: error: cannot read the file: {exc.strerror}", err=True)
                    unreadable += 1
                    continue
                async with db.transaction() as session:
                    result = await ingest_message(session, ctx, raw)
                typer.echo(f"{file}: {result.summary()}")
        finally:
            await db.dispose()
        return unreadable

    try:
        unreadable = asyncio.run(run())
    except OpsdeskError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from exc
    except (DBAPIError, OSError) as exc:
        # The URL is left out of the message because it may contain a password.
        reason = exc.orig if isinstance(exc, DBAPIError) else exc
        typer.echo(
            f"error: e-mail intake failed in the database: {reason}; check "
            "OPSDESK_DATABASE_URL and run `opsdesk migrate` on it first",
            err=True,
        )
        raise typer.Exit(2) from exc
    if unreadable:
        raise typer.Exit(1)
