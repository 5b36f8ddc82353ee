"""Real Opsdesk processes for the scale-out and fault tests, and a flaky webhook receiver.

Everything listens on 127.0.0.1 and every wait has a deadline, so a broken build fails the
test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

OPSDESK = Path(sys.executable).parent / "opsdesk"
FAST_WORKSPACE = Path(__file__).resolve().parent.parent / "fixtures" / "fast-clocks.yaml"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def environment(database_url: str, **extra: str) -> dict[str, str]:
    return os.environ | {
        "OPSDESK_DATABASE_URL": database_url,
        "OPSDESK_WORKSPACE": str(FAST_WORKSPACE),
        "OPSDESK_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
        # Intake at test rates must not be throttled as abuse.
        "OPSDESK_RATE_LIMIT_ADDRESS_BURST": "100000",
        "OPSDESK_RATE_LIMIT_ADDRESS_PER_MINUTE": "100000",
        "OPSDESK_RATE_LIMIT_ORIGIN_BURST": "100000",
        "OPSDESK_RATE_LIMIT_ORIGIN_PER_MINUTE": "100000",
        **extra,
    }


def request_body(number: int, description: str) -> dict[str, str]:
    """Return an intake request for the fast-clocks workspace."""
    return {
        "name": f"Customer {number}",
        "email": f"customer{number}@example.com",
        "service_type": "repair",
        "contact_method": "email",
        "priority": "normal",
        "subject": f"Request {number}",
        "description": description,
    }


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `opsdesk ARGS` with its output appended to `log`."""
    with log.open("ab") as output:
        return subprocess.Popen(
            [str(OPSDESK), *args], env=env, stdout=output, stderr=subprocess.STDOUT
        )


def stop(process: subprocess.Popen[bytes], *, timeout: float = 20) -> int:
    """SIGTERM, then SIGKILL after `timeout` seconds; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def wait_ready(
    base_url: str, process: subprocess.Popen[bytes], log: Path, *, within: float
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"opsdesk exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base_url} not ready within {within:g} s:\n{log.read_text()}")


@dataclass
class Received:
    webhook_id: str
    event_id: str
    event_type: str
    status: int


@dataclass
class FlakyReceiver:
    """A receiver that returns 500 or stalls past the timeout at random while `flaky` is set."""

    fail_rate: float
    stall_rate: float
    stall_seconds: float
    seed: int = 7
    flaky: bool = True
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    requests_started: int = 0

    def answer(self, body: bytes, webhook_id: str) -> int:
        event = json.loads(body)
        with self.lock:
            self.requests_started += 1
            draw = self.random.random() if self.flaky else 1.0
        if draw < self.stall_rate:
            time.sleep(self.stall_seconds)
            status = 200
        elif draw < self.stall_rate + self.fail_rate:
            status = 500
        else:
            status = 200
        with self.lock:
            self.received.append(Received(webhook_id, event["id"], event["type"], status))
        return status

    def __post_init__(self) -> None:
        self.random = random.Random(self.seed)

    def delivered(self) -> dict[str, set[str]]:
        """Return each event id with the webhook ids it arrived under with a 2xx response."""
        found: dict[str, set[str]] = {}
        with self.lock:
            for item in self.received:
                if item.status == 200:
                    found.setdefault(item.event_id, set()).add(item.webhook_id)
        return found


@contextmanager
def serve_receiver(receiver: FlakyReceiver) -> Iterator[FlakyReceiver]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender died mid-request (a killed worker), so no response can be sent.
                return
            status = receiver.answer(body, self.headers.get("webhook-id", ""))
            try:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
            except OSError:
                # The sender timed out on a stalled response and closed the connection.
                pass

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class PrivatePostgres:
    """A PostgreSQL server of this test's own, on 127.0.0.1, that the test may stop."""

    bindir: Path
    data: Path
    port: int
    run_as: list[str]

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [*self.run_as, str(self.bindir / "pg_ctl"), "-D", str(self.data), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self._pg_ctl("start", "-w", "-t", "30", "-l", str(self.data / "server.log"), "-o", options)

    def stop(self) -> None:
        # Fast shutdown: open connections are cut, as in a restart for an upgrade.
        self._pg_ctl("stop", "-w", "-t", "30", "-m", "fast")


def postgres_bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return found[-1].parent if found else None


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """Create, start and finally remove a throwaway cluster.

    initdb refuses to run as root, so as root the server runs as the postgres user.
    """
    bindir = postgres_bindir()
    assert bindir is not None, "PostgreSQL server binaries not found under /usr/lib/postgresql"
    run_as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="opsdesk-pg-"))
    if run_as:
        shutil.chown(folder, user="postgres")
    server = PrivatePostgres(bindir=bindir, data=folder / "data", port=free_port(), run_as=run_as)
    initdb = [str(bindir / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres"]
    subprocess.run(
        [*run_as, *initdb, "--no-sync", "--no-instructions"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    server.start()
    try:
        yield server
    finally:
        with suppress(subprocess.SubprocessError):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
