"""Servers, accounts and page checks shared by the browser tests.

The browser tests run Opsdesk for real: uvicorn serves `create_app(...)` on a loopback
port in a thread of its own (with its own event loop and database engine), and Debian's
Chromium, driven by Playwright, talks to it over HTTP. Test code prepares data through
the services with a second engine on the same database.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import uvicorn
from playwright.async_api import (
    BrowserContext,
    ConsoleMessage,
    Dialog,
    FrameLocator,
    Page,
    Response,
    expect,
)
from sqlalchemy import select

from opsdesk.clock import Clock, FrozenClock, SystemClock
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.settings import Settings
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.tasks import service as task_service
from opsdesk.tasks.models import Task
from opsdesk.tickets import service as tickets
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket
from opsdesk.users import auth
from opsdesk.users import service as users
from opsdesk.users.models import User
from opsdesk.web.app import create_app
from opsdesk.workspace import Workspace, load_workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_WORKSPACE = ROOT / "examples" / "technical-services.yaml"
FAST_CLOCKS_WORKSPACE = ROOT / "tests" / "fixtures" / "fast-clocks.yaml"
WIDGET_DEMO = ROOT / "examples" / "widget-demo"
DEMO_WIDGET_SRC = "http://127.0.0.1:8000/widget.js"
"""The address of widget.js that examples/widget-demo/index.html is written with."""

PASSWORD = "correct horse battery staple"
HOME_BY_ROLE = {
    "agent": "/console/queue",
    "technician": "/console/my-tasks",
    "supervisor": "/console/dashboard",
    "admin": "/console/admin",
}
START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 15.0


def free_socket() -> socket.socket:
    """Return a TCP socket bound to an ephemeral port of 127.0.0.1, not yet listening.

    The protocol is named explicitly: asyncio turns Nagle's algorithm off only on sockets
    whose `proto` is IPPROTO_TCP, and with it on every response waited about 40 ms for a
    delayed ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def origin_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


class ServerThread:
    """Uvicorn serving one app on an already bound socket, in a thread with its own loop."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.sock = sock
        config = uvicorn.Config(
            app,
            loop="asyncio",
            ws="none",
            lifespan="on",
            log_config=None,
            access_log=False,
            # Open event streams would otherwise hold the shutdown until the browser leaves.
            timeout_graceful_shutdown=2,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [sock]}, name="opsdesk-live", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the Opsdesk server failed to start; see its captured log")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Opsdesk server did not start in {START_TIMEOUT_SECONDS} s")
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(STOP_TIMEOUT_SECONDS)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(STOP_TIMEOUT_SECONDS)
        self.sock.close()
        if self.thread.is_alive():
            raise RuntimeError(f"the Opsdesk server did not stop in {2 * STOP_TIMEOUT_SECONDS} s")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


class StaticSite:
    """A plain HTTP server for one folder, on its own loopback port: another origin."""

    def __init__(self, folder: Path, sock: socket.socket) -> None:
        self.folder = folder
        self.url = origin_of(sock)
        self.httpd = http.server.ThreadingHTTPServer(
            sock.getsockname(),
            partial(_QuietHandler, directory=str(folder)),
            bind_and_activate=False,
        )
        # Serve on the socket reserved earlier, so no other process can take the port.
        self.httpd.socket.close()
        self.httpd.socket = sock
        self.httpd.server_name, self.httpd.server_port = sock.getsockname()[:2]
        self.httpd.server_activate()
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(STOP_TIMEOUT_SECONDS)


def write_workspace(source: Path, target: Path, *, allowed_origins: list[str]) -> Workspace:
    """Copy a workspace file with `allowed_origins` replaced, and load the copy.

    The file is edited as text: a YAML round trip would turn the `on:` keys of
    escalations into booleans.
    """
    lines: list[str] = []
    in_origins = False
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("allowed_origins:"):
            in_origins = True
            continue
        if in_origins and (line.startswith((" ", "-")) or not line.strip()):
            continue
        in_origins = False
        lines.append(line)
    if allowed_origins:
        lines.append("allowed_origins:")
        lines.extend(f"  - {json.dumps(origin)}" for origin in allowed_origins)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return load_workspace(target)


def copy_widget_demo(target: Path, server_url: str) -> None:
    """Copy examples/widget-demo into `target` with widget.js loaded from `server_url`."""
    target.mkdir(parents=True, exist_ok=True)
    for path in WIDGET_DEMO.iterdir():
        text = path.read_text(encoding="utf-8")
        if path.name == "index.html":
            assert text.count(DEMO_WIDGET_SRC) == 1, "the demo page no longer loads widget.js"
            text = text.replace(DEMO_WIDGET_SRC, f"{server_url}/widget.js")
        (target / path.name).write_text(text, encoding="utf-8")


@dataclass(frozen=True)
class LiveServer:
    """A running Opsdesk server and the test's own handles on its database."""

    url: str
    db: Database
    """An engine of the test's event loop on the server's database."""
    ctx: Context
    """The server's workspace and settings, with the test's clock."""


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    name: str
    role: str

    @property
    def home(self) -> str:
        return HOME_BY_ROLE[self.role]


async def make_staff(
    server: LiveServer,
    role: str,
    *,
    name: str = "",
    email: str = "",
    teams: list[str] | None = None,
) -> Account:
    """Create a console user with the password PASSWORD (a made-up e-mail unless given)."""
    ctx = server.ctx
    email = email or f"{role}-{uuid.uuid4().hex[:6]}@brightline.example"
    async with server.db.transaction() as session:
        user = await users.create_user(
            session,
            email=email,
            name=name or email.split("@")[0],
            role=role,
            teams=teams or [],
            known_teams=[team.key for team in ctx.workspace.spec.teams],
            at=ctx.clock.now(),
        )
        await auth.set_password(session, user=user, password=PASSWORD)
    return Account(id=user.id, email=email, name=user.name, role=role)


async def sign_in(page: Page, account: Account) -> None:
    """Sign in through the login form, as a person would, and wait for the role's home."""
    await page.goto("/console/login")
    await page.get_by_label("E-mail").fill(account.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"**{account.home}")


async def create_ticket(server: LiveServer, **fields: Any) -> tickets.CreatedTicket:
    """Create a ticket through the intake service, as the API would."""
    request = tickets.NewTicket(
        name=fields.pop("name", "Ada Obi"),
        email=fields.pop("email", "ada.obi@example.com"),
        phone=fields.pop("phone", "+234 803 555 0101"),
        service_type=fields.pop("service_type", "solar_repair"),
        contact_method=fields.pop("contact_method", "phone_call"),
        priority=fields.pop("priority", None),
        subject=fields.pop("subject", "Inverter beeps and shuts down"),
        description=fields.pop("description", "Since yesterday the inverter shuts down hourly."),
        site_address=fields.pop("site_address", None),
    )
    channel = fields.pop("channel", "api")
    assert not fields, f"unknown ticket fields {sorted(fields)}"
    async with server.db.transaction() as session:
        created = await tickets.create_ticket(session, server.ctx, request, channel=channel)
    return created


@dataclass
class PageWatch:
    """What went wrong on the pages of one browser context while a test drove them."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Uncaught script errors."""
    server_errors: list[str] = field(default_factory=list)
    """Responses with a 5xx status."""
    csp_violations: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        async def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            await dialog.dismiss()

        def on_response(response: Response) -> None:
            if response.status >= 500:
                self.server_errors.append(f"{response.status} {response.url}")

        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                self.csp_violations.append(message.text)

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("response", on_response)
        page.on("console", on_console)

    def problems(self) -> list[str]:
        return [
            *(f"dialog {text}" for text in self.dialogs),
            *(f"script error {text}" for text in self.errors),
            *(f"server error {text}" for text in self.server_errors),
            *(f"content security policy: {text}" for text in self.csp_violations),
        ]


async def no_horizontal_scroll(page: Page) -> None:
    """Assert that the page is no wider than its viewport."""
    widths = await page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    scroll_width, viewport_width = widths
    assert scroll_width <= viewport_width, (
        f"{page.url} scrolls sideways: {scroll_width} px wide in a {viewport_width} px viewport"
    )


async def heading_of(page: Page) -> str:
    return (await page.locator("main h1").first.inner_text()).strip()


async def assign_task_to(server: LiveServer, reference: str, account: Account) -> None:
    """Assign a task to a member of the staff through the task service."""
    async with server.db.transaction() as session:
        task = await task_service.access_task(session, reference, lock=True)
        ticket = await session.get(Ticket, task.ticket_id, with_for_update=True)
        person = await session.get(User, account.id)
        assert ticket is not None
        assert person is not None
        await task_service.assign_task(
            session, server.ctx, task, ticket, actor=timeline.SYSTEM, assignee=person
        )


async def ticket_channel(server: LiveServer, reference: str) -> str:
    async with server.db.read() as session:
        ticket = await tickets.access_ticket(session, server.ctx, reference)
    return ticket.channel


class Servers:
    """Starts Opsdesk servers and demo sites for one test and stops them all afterwards."""

    def __init__(self, database_url: str, folder: Path) -> None:
        self.database_url = database_url
        self.folder = folder
        self.db = Database(database_url)
        self.running: list[ServerThread | StaticSite] = []
        self.reserved: socket.socket | None = None

    async def opsdesk(
        self,
        *,
        workspace_file: Path = EXAMPLE_WORKSPACE,
        allowed_origins: list[str] | None = None,
        run_worker: bool = False,
        clock: Clock | None = None,
        **overrides: Any,
    ) -> LiveServer:
        """Start Opsdesk on this test's database.

        The server runs with `clock` (the real time by default). The returned handles use
        the same clock object, so a frozen clock moved by the test moves for both.
        """
        sock = free_socket()
        url = origin_of(sock)
        try:
            workspace = write_workspace(
                workspace_file,
                self.folder / f"workspace-{len(self.running)}.yaml",
                allowed_origins=allowed_origins or [],
            )
            server_settings = Settings(
                database_url=self.database_url,
                base_url=overrides.pop("base_url", url),
                idle_wakeup_seconds=0.2,
                # Tests submit many forms from one address, so the limits stay out of reach.
                rate_limit_address_burst=1000,
                rate_limit_origin_burst=1000,
                **overrides,
            )
        except BaseException:
            sock.close()
            raise
        clock = clock or SystemClock()
        app = create_app(
            settings=server_settings, workspace=workspace, clock=clock, run_worker=run_worker
        )
        thread = ServerThread(app, sock)
        self.running.append(thread)
        thread.start()
        ctx = Context(workspace=workspace, clock=clock, settings=server_settings)
        return LiveServer(url=url, db=self.db, ctx=ctx)

    def widget_demo(self, server: LiveServer) -> StaticSite:
        """Serve examples/widget-demo, loading the widget from `server`, on another port.

        The site's origin must be among the allowed origins `server` was started with,
        so reserve it first with `reserve_origin`.
        """
        assert self.reserved is not None, "call reserve_origin() before starting the server"
        folder = self.folder / "widget-demo"
        copy_widget_demo(folder, server.url)
        site = StaticSite(folder, self.reserved)
        self.reserved = None
        site.start()
        self.running.append(site)
        return site

    def reserve_origin(self) -> str:
        """Reserve a loopback port for the demo site and return its origin."""
        self.reserved = free_socket()
        return origin_of(self.reserved)

    async def stop(self) -> None:
        if self.reserved is not None:
            self.reserved.close()
        errors = []
        for running in reversed(self.running):
            try:
                running.stop()
            except RuntimeError as exc:
                errors.append(str(exc))
        await self.db.dispose()
        assert not errors, errors


NewContext = Callable[..., Awaitable[BrowserContext]]
"""The `new_context` fixture: open a browser context with a base URL and options."""


async def task_references_of(server: LiveServer, ticket_reference: str) -> list[str]:
    async with server.db.read() as session:
        ticket = await tickets.access_ticket(session, server.ctx, ticket_reference)
        found = await session.execute(
            select(Task).where(Task.ticket_id == ticket.id).order_by(Task.id)
        )
        return [task_service.task_reference(task) for task in found.scalars()]


async def fire_clocks_at(server: LiveServer, at: datetime) -> int:
    """Fire every SLA warning and breach due by `at`, as the worker would at that instant."""
    ctx = Context(
        workspace=server.ctx.workspace, clock=FrozenClock(at), settings=server.ctx.settings
    )
    return await fire_due_clocks(server.db, ctx)


async def fill_request_form(
    form: Page | FrameLocator,
    *,
    name: str,
    email: str,
    subject: str,
    description: str,
    contact: str = "Email",
    phone: str = "",
    site_address: str = "",
    priority: str = "",
) -> None:
    """Fill the portal's or the widget's request form. `contact` and `priority` are labels."""
    await form.get_by_label(contact, exact=True).check()
    if priority:
        await form.get_by_label("Priority").select_option(label=priority)
    await form.get_by_label("Your name").fill(name)
    await form.get_by_label("E-mail", exact=True).fill(email)
    if phone:
        await form.get_by_label("Phone", exact=True).fill(phone)
    await form.get_by_label("Subject", exact=True).fill(subject)
    await form.get_by_label("Description", exact=True).fill(description)
    if site_address:
        await form.get_by_label("Site address", exact=True).fill(site_address)


@dataclass(frozen=True)
class SentRequest:
    reference: str
    status_url: str


async def send_request_form(page: Page) -> SentRequest:
    """Press Send on the portal form and read the confirmation page."""
    await page.get_by_test_id("submit-request").click()
    await expect(page.get_by_role("heading", name="We have your request")).to_be_visible()
    reference = (await page.get_by_test_id("reference").inner_text()).strip()
    status_url = await page.get_by_test_id("status-link").input_value()
    return SentRequest(reference=reference, status_url=status_url)
