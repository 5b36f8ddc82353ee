"""Intake throughput and latency of Opsdesk against a bare FastAPI insert, in one run.

For each database kind (a fresh SQLite file, a freshly created PostgreSQL database) and
each number of concurrent connections, the script starts one server process on
127.0.0.1, warms it up, drives it with wrk for a fixed time, and stops it:

- Opsdesk: `opsdesk serve --no-worker` on the example workspace, POST /api/v1/requests.
  Each request creates a ticket with its SLA clocks, a task with its clock, a customer
  message, timeline entries and an outbox event. Workers run as separate processes in
  production, so none runs here and the outbox is left to grow.
- Baseline: `bench/baseline_app.py`, a FastAPI endpoint that inserts one row through the
  same engine settings (`opsdesk.db.create_engine`), started with the same uvicorn
  arguments as `opsdesk serve`.
- Floor: the same app's endpoint that sends the statements of one Opsdesk intake request
  with as many rows in one transaction, and does nothing else. No intake that stores
  what Opsdesk stores can be faster on this stack, so the floor shows how much of the
  gap to the baseline is the writing itself and how much is Opsdesk's own work.

The intake rate limiter is raised far above the offered load through the
OPSDESK_RATE_LIMIT_* settings, so that it limits nothing. Every request has its own
subject and e-mail address (bench/intake.lua). After each run the script counts the rows
the server wrote, so a run whose requests failed cannot pass for a fast one.

It prints requests per second, p50 and p99 latency (wrk's, with a 30 s request timeout
so that slow requests are measured rather than dropped), the CPU time the server process
used per request (from /proc, so it does not count time the server spent waiting for a
core on a busy machine), and the ratios Opsdesk / baseline and floor / baseline.
Needs wrk (Debian: apt-get install wrk) and, for PostgreSQL, a server that
OPSDESK_BENCH_POSTGRES_URL reaches (default: user postgres on 127.0.0.1:5432). The
database named by --pg-database is dropped and created again before every run and
dropped at the end.

Run: .venv/bin/python bench/intake_bench.py [--duration 20] [--connections 16 64]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from bench_support import BIN, POSTGRES, ROOT, UNLIMITED, free_port, psql, stop

WORKSPACE = ROOT / "examples" / "technical-services.yaml"
WARM_UP_SECONDS = 3
TARGETS = ("baseline", "floor", "opsdesk")
"""Measured one after another for each configuration; see the module docstring."""
REQUEST_TIMEOUT = "30s"


@dataclass
class Result:
    target: str
    database: str
    connections: int
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    rows_written: int
    cpu_ms_per_request: float
    """CPU time (user and system) the server process used per measured request."""


def describe_machine() -> str:
    """Return cores, CPU model, memory, date and load average, for the benchmark record."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    date = time.strftime("%a %b %d %H:%M:%S UTC %Y", time.gmtime())
    return (
        f"{os.cpu_count()} cores, CPU {model!r}, {total_kib / 1024**2:.1f} GiB RAM, "
        f"{date}, load average {load}"
    )


def cpu_seconds(pid: int) -> float:
    """Return the user and system CPU time a process has used so far, from /proc."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5), utime and stime, in clock ticks.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server for {url} exited with code {process.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not respond within {timeout:.0f} s")


def fresh_database(kind: str, folder: Path, pg_database: str) -> str:
    """Return the URL of a new, empty database of `kind`."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{folder / f'{uuid.uuid4().hex}.db'}"
    psql(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{pg_database}"')
    return make_url(POSTGRES).set(database=pg_database).render_as_string(hide_password=False)


def count_rows(url: str, table: str) -> int:
    """Count the rows of `table`, one of the benchmark's two fixed table names."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        with closing(sqlite3.connect(parsed.database or "")) as connection:
            row = connection.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
        return int(row[0])
    return int(psql(f"SELECT count(*) FROM {table}", database=parsed.database))  # noqa: S608


@dataclass
class WrkOutput:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int


def wrk(url: str, script: Path, connections: int, duration: int) -> WrkOutput:
    """Drive `url` with wrk for `duration` seconds and parse its report.

    wrk runs one thread, because one thread sends thousands of requests per second and
    that leaves more of the second core to the server and the database."""
    output = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            f"--timeout={REQUEST_TIMEOUT}",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=duration + 60,
    ).stdout
    total = re.search(r"(\d+) requests in", output)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if total is None or rate is None:
        raise RuntimeError(f"unexpected wrk output:\n{output}")
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkOutput(
        requests=int(total.group(1)),
        requests_per_second=float(rate.group(1)),
        p50_ms=_latency_ms(re.search(r"\b50%\s+([\d.]+)(us|ms|s|m)\b", output)),
        p99_ms=_latency_ms(re.search(r"\b99%\s+([\d.]+)(us|ms|s|m)\b", output)),
        non_2xx=int(bad.group(1)) if bad else 0,
        socket_errors=sum(int(value) for value in sockets.groups()) if sockets else 0,
    )


def _latency_ms(match: re.Match[str] | None) -> float:
    if match is None:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]
    return value * scale


def serve(
    command: list[str], env: dict[str, str], ready_url: str, log: Path
) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            command, env=os.environ | env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT
        )
    try:
        wait_ready(ready_url, process)
    except RuntimeError:
        stop(process)
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise
    return process


def start_opsdesk(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    subprocess.run(
        [str(BIN / "opsdesk"), "migrate", "--database", url],
        check=True,
        capture_output=True,
        timeout=120,
    )
    env = {
        "OPSDESK_DATABASE_URL": url,
        "OPSDESK_LOG_LEVEL": "WARNING",
        "OPSDESK_BASE_URL": f"http://127.0.0.1:{port}",
    } | UNLIMITED
    command = [
        str(BIN / "opsdesk"),
        "serve",
        "--config",
        str(WORKSPACE),
        "--port",
        str(port),
        "--no-worker",
    ]
    return serve(command, env, f"http://127.0.0.1:{port}/healthz", log)


def start_baseline(url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, str(ROOT / "bench" / "baseline_app.py"), "--port", str(port)]
    return serve(command, {"BASELINE_DATABASE_URL": url}, f"http://127.0.0.1:{port}/healthz", log)


def measure(
    kind: str, target: str, connections: int, duration: int, folder: Path, pg_database: str
) -> Result:
    url = fresh_database(kind, folder, pg_database)
    port = free_port()
    log = folder / f"{target}-{kind}-{connections}.log"
    try:
        if target == "opsdesk":
            process = start_opsdesk(url, port, log)
            endpoint, script, table = "/api/v1/requests", "intake.lua", "tickets"
        else:
            process = start_baseline(url, port, log)
            endpoint = "/insert" if target == "baseline" else "/insert-like-intake"
            script, table = "baseline.lua", "bench_rows"
        try:
            address = f"http://127.0.0.1:{port}{endpoint}"
            warm_up = wrk(address, ROOT / "bench" / script, connections, WARM_UP_SECONDS)
            cpu_before = cpu_seconds(process.pid)
            measured = wrk(address, ROOT / "bench" / script, connections, duration)
            cpu_used = cpu_seconds(process.pid) - cpu_before
        finally:
            stop(process)
        rows_written = count_rows(url, table)
    finally:
        if kind == "postgresql":
            psql(f'DROP DATABASE IF EXISTS "{pg_database}" WITH (FORCE)')
    # Requests still in flight when wrk stops may commit without being counted by wrk.
    expected = warm_up.requests + measured.requests - warm_up.non_2xx - measured.non_2xx
    if not expected <= rows_written <= expected + 2 * connections:
        print(
            f"  warning: {rows_written} rows written for about {expected} successful requests",
            file=sys.stderr,
        )
    return Result(
        target=target,
        database=kind,
        connections=connections,
        requests=measured.requests,
        requests_per_second=measured.requests_per_second,
        p50_ms=measured.p50_ms,
        p99_ms=measured.p99_ms,
        non_2xx=measured.non_2xx,
        socket_errors=measured.socket_errors,
        rows_written=rows_written,
        cpu_ms_per_request=cpu_used * 1000 / max(1, measured.requests),
    )


def print_summary(results: list[Result], databases: list[str], connections: list[int]) -> None:
    print()
    print(
        f"{'database':<10} {'conn':>4} {'baseline req/s':>14} {'floor req/s':>11} "
        f"{'opsdesk req/s':>13} {'ratio':>6} {'floor ratio':>11} {'ops p50':>8} "
        f"{'ops p99':>8} {'base CPU':>9} {'floor CPU':>9} {'ops CPU':>8}"
    )
    for kind in databases:
        for count in connections:

            def runs(target: str, kind: str = kind, count: int = count) -> list[Result]:
                return [
                    r
                    for r in results
                    if (r.database, r.connections, r.target) == (kind, count, target)
                ]

            for base, floor, ours in zip(
                runs("baseline"), runs("floor"), runs("opsdesk"), strict=True
            ):
                print(
                    f"{kind:<10} {count:>4} {base.requests_per_second:>14.1f} "
                    f"{floor.requests_per_second:>11.1f} {ours.requests_per_second:>13.1f} "
                    f"{ours.requests_per_second / base.requests_per_second:>6.2f} "
                    f"{floor.requests_per_second / base.requests_per_second:>11.2f} "
                    f"{ours.p50_ms:>8.1f} {ours.p99_ms:>8.1f} "
                    f"{base.cpu_ms_per_request:>9.2f} {floor.cpu_ms_per_request:>9.2f} "
                    f"{ours.cpu_ms_per_request:>8.2f}"
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--duration", type=int, default=20, help="Seconds of measured load per run."
    )
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    parser.add_argument(
        "--databases", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"]
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="Runs of all three targets per configuration."
    )
    parser.add_argument(
        "--pg-database",
        default="opsdesk_bench",
        help="PostgreSQL database to drop and create for each run.",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed; on Debian run: apt-get install wrk")

    print(describe_machine(), flush=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="opsdesk-bench-") as folder:
        for kind in args.databases:
            for connections in args.connections:
                for _ in range(args.repeat):
                    for target in TARGETS:
                        result = measure(
                            kind, target, connections, args.duration, Path(folder), args.pg_database
                        )
                        results.append(result)
                        load = os.getloadavg()[0]
                        print(
                            f"{result.database:<10} {result.target:<9} c={result.connections:<3} "
                            f"{result.requests_per_second:8.1f} req/s  "
                            f"p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms  "
                            f"requests {result.requests}  non-2xx {result.non_2xx}  "
                            f"socket errors {result.socket_errors}  rows {result.rows_written}  "
                            f"CPU {result.cpu_ms_per_request:.2f} ms/request  "
                            f"load {load:.2f}",
                            flush=True,
                        )
    print_summary(results, args.databases, args.connections)
    print(f"\nfinished: {describe_machine()}")


if __name__ == "__main__":
    main()
