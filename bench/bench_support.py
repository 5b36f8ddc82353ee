"""Helpers the benchmark scripts share: paths, the PostgreSQL server, server processes.

Every server a script starts listens on 127.0.0.1, writes its output to a log file, and
is stopped by the script.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES = os.environ.get(
    "OPSDESK_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
UNLIMITED = {
    "OPSDESK_RATE_LIMIT_ADDRESS_BURST": "100000000",
    "OPSDESK_RATE_LIMIT_ADDRESS_PER_MINUTE": "100000000",
    "OPSDESK_RATE_LIMIT_ORIGIN_BURST": "100000000",
    "OPSDESK_RATE_LIMIT_ORIGIN_PER_MINUTE": "100000000",
}
"""Limits far above any rate this machine reaches, so the intake rate limiter never rejects."""


def psql(statement: str, *, database: str | None = None) -> str:
    """Run one SQL statement with psql as the benchmark's PostgreSQL user; return its output."""
    url = make_url(POSTGRES)
    completed = subprocess.run(
        [
            "psql",
            "-qAt",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-d",
            database or url.database or "postgres",
            "-c",
            statement,
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return completed.stdout.strip()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `command` with `env` added to this environment, its output going to `log`."""
    with log.open("ab") as sink:
        return subprocess.Popen(
            command, env=os.environ | env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Send SIGTERM, and SIGKILL if the process has not exited 20 s later."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


async def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, within: float = 60.0
) -> None:
    """Wait until `url` responds with 200; raise with the log's end if the process exits."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=1.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                tail = log_tail(log)
                raise RuntimeError(
                    f"server for {url} exited with code {process.returncode}:\n{tail}"
                )
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"server at {url} did not respond within {within:.0f} s")
