"""Intake throughput and latency of Opsdesk against a bare FastAPI insert, in one run.

For each database (a fresh SQLite file, a fresh PostgreSQL database) and each number of
concurrent connections, the script starts one server process, warms it up, and drives it
with wrk for a fixed time:

- Opsdesk: `opsdesk serve --no-worker` on the example workspace, POST /api/v1/requests.
  Each request creates a ticket with its SLA clocks, a task with its clock, a timeline
  and outbox events. Workers run separately in production, so none runs here.
- Baseline: `bench/baseline_app.py`, a FastAPI endpoint that inserts one row with the
  same drivers and database settings.

It prints requests per second, p50 and p99 latency and the ratio Opsdesk / baseline.
Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, a server at
OPSDESK_BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/test);
the script creates and drops its own databases there.

Run: .venv/bin/python bench/intake_bench.py [--duration 20] [--connections 16 64]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKSPACE = ROOT / "examples" / "technical-services.yaml"
POSTGRES = os.environ.get(
    "OPSDESK_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
# Generous limits, so that the intake rate limiter measures nothing here.
UNLIMITED = {
    "OPSDESK_RATE_LIMIT_PER_ADDRESS": "1000000",
    "OPSDESK_RATE_LIMIT_PER_ORIGIN": "1000000",
    "OPSDESK_RATE_LIMIT_BURST": "1000000",
}


@dataclass
class Result:
    target: str
    database: str
    connections: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start within {timeout:.0f} s")


def run_psql(statement: str) -> None:
    url = make_url(POSTGRES)
    subprocess.run(
        [
            "psql",
            "-q",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-d",
            url.database or "postgres",
            "-c",
            statement,
        ],
        check=True,
    )


def fresh_database(kind: str, folder: Path) -> tuple[str, str | None]:
    """Return a new empty database URL and, for PostgreSQL, the database name to drop."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{folder / f'{uuid.uuid4().hex}.db'}", None
    name = f"opsdesk_bench_{uuid.uuid4().hex[:8]}"
    run_psql(f'CREATE DATABASE "{name}"')
    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False), name


def wrk(url: str, script: Path, connections: int, duration: int) -> tuple[float, float, float, int]:
    output = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _latency_ms(re.search(r"50%\s+([\d.]+)(us|ms|s)", output))
    p99 = _latency_ms(re.search(r"99%\s+([\d.]+)(us|ms|s)", output))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = int(bad.group(1)) if bad else 0
    return rps, p50, p99, errors


def _latency_ms(match: re.Match[str] | None) -> float:
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def serve(command: list[str], env: dict[str, str], ready_url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, env=os.environ | env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_ready(ready_url)
    except RuntimeError:
        process.kill()
        raise
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def measure(kind: str, target: str, connections: int, duration: int, folder: Path) -> Result:
    url, name = fresh_database(kind, folder)
    port = free_port()
    try:
        if target == "opsdesk":
            subprocess.run(
                [str(BIN / "opsdesk"), "migrate", "--database", url],
                check=True,
                capture_output=True,
            )
            env = {"OPSDESK_DATABASE_URL": url, "OPSDESK_LOG_LEVEL": "WARNING"} | UNLIMITED
            process = serve(
                [
                    str(BIN / "opsdesk"),
                    "serve",
                    "--config",
                    str(WORKSPACE),
                    "--port",
                    str(port),
                    "--no-worker",
                ],
                env,
                f"http://127.0.0.1:{port}/healthz",
            )
            endpoint, script = (
                f"http://127.0.0.1:{port}/api/v1/requests",
                ROOT / "bench" / "intake.lua",
            )
        else:
            process = serve(
                [
                    str(BIN / "uvicorn"),
                    "bench.baseline_app:app",
                    "--port",
                    str(port),
                    "--log-level",
                    "warning",
                ],
                {"BASELINE_DATABASE_URL": url, "PYTHONPATH": str(ROOT)},
                f"http://127.0.0.1:{port}/docs",
            )
            endpoint, script = f"http://127.0.0.1:{port}/insert", ROOT / "bench" / "baseline.lua"
        try:
            wrk(endpoint, script, connections, 3)  # warm-up, not counted
            rps, p50, p99, errors = wrk(endpoint, script, connections, duration)
        finally:
            stop(process)
    finally:
        if name is not None:
            run_psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return Result(target, kind, connections, rps, p50, p99, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=int, default=20, help="Seconds of measured load per run."
    )
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; on Debian run: apt-get install wrk")

    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="opsdesk-bench-") as folder:
        for kind in args.databases:
            for connections in args.connections:
                for target in ("baseline", "opsdesk"):
                    result = measure(kind, target, connections, args.duration, Path(folder))
                    results.append(result)
                    print(
                        f"{result.database:<10} {result.target:<9} c={result.connections:<3} "
                        f"{result.requests_per_second:8.1f} req/s  p50 {result.p50_ms:7.1f} ms  "
                        f"p99 {result.p99_ms:7.1f} ms  non-2xx {result.errors}",
                        flush=True,
                    )
    print()
    print(
        f"{'database':<10} {'conn':>4} {'baseline req/s':>15} {'opsdesk req/s':>14} {'ratio':>6} "
        f"{'opsdesk p50 ms':>15} {'opsdesk p99 ms':>15}"
    )
    for kind in args.databases:
        for connections in args.connections:
            base = next(
                r
                for r in results
                if (r.database, r.connections, r.target) == (kind, connections, "baseline")
            )
            ours = next(
                r
                for r in results
                if (r.database, r.connections, r.target) == (kind, connections, "opsdesk")
            )
            ratio = ours.requests_per_second / base.requests_per_second
            print(
                f"{kind:<10} {connections:>4} {base.requests_per_second:>15.1f} "
                f"{ours.requests_per_second:>14.1f} {ratio:>6.2f} "
                f"{ours.p50_ms:>15.1f} {ours.p99_ms:>15.1f}"
            )


if __name__ == "__main__":
    main()
