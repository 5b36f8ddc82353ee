"""SLA due lag on PostgreSQL with a million open clocks while intake runs.

Steps, all against a PostgreSQL database that the script drops and creates again:

1. Migrate it and start `opsdesk serve --no-worker` on 127.0.0.1 with the fast-clocks
   workspace (tests/fixtures/fast-clocks.yaml). Its first-response target is 2 s with a
   warning at half, so every new ticket's clock warns after 1 s and breaches after 2 s,
   and the breach runs an escalation (raise priority, notify, add a note).
2. Create one template ticket through the API, then copy it and its two ticket clocks
   with INSERT ... SELECT over generate_series until 10,000 clocks are open. Every copy
   keeps the template's columns (definition fingerprint, transitions, policy) and gets a
   new status token. Its due, warning and next firing move 30 days or more ahead, so it
   stays open and indexed but never comes due during the run.
3. Print EXPLAIN (ANALYZE, BUFFERS) of the two queries the worker runs against the clocks:
   the claim of the next due clock (`opsdesk.sla.jobs.claim_due_clock`) and the read of
   the next firing instant (`opsdesk.sla.jobs.next_fire_at`). The SQL is captured from
   those functions as they run, not written out again here.
4. Fill up to 1,000,000 open clocks, print the same two plans, then VACUUM both tables
   and write a CHECKPOINT so that the bulk load's I/O is over before the measurement.
5. Start `opsdesk worker` processes, then create tickets through the API at a fixed rate
   for a fixed time. An observer LISTENs on the channel Opsdesk notifies on every commit
   that writes an event, and after each notification (at most every 20 ms, at least
   every 50 ms) reads which watched first-response clocks have warned or breached.
6. Print the lags, the sequential scans PostgreSQL counted during the run, and which
   statements other sessions were running (sampled from pg_stat_activity, with their
   wait events). With --sample-workers the workers run under bench/sampled_serve.py and
   the script also prints where their CPU time went.

Due lag is the time from a clock's due instant (its `warned_at` or `breached_at`, which
the worker sets to the due instant) to the moment the observer first reads the firing
committed. The observer reads after the commit, so this is an upper bound of the commit
lag. The script also reports the worker's own lag: the `fired_at` that the worker writes
into the timeline entry (its clock when it claimed the clock, before its commit) minus
the due instant.

Run: .venv/bin/python bench/due_lag_bench.py [--rate 20] [--duration 60] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
from sqlalchemy import event
from sqlalchemy.engine import make_url

from intake_profile import report
from opsdesk.db import Database
from opsdesk.sla.jobs import claim_due_clock, next_fire_at

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
WORKSPACE = ROOT / "tests" / "fixtures" / "fast-clocks.yaml"
POSTGRES = os.environ.get(
    "OPSDESK_BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
UNLIMITED = {
    "OPSDESK_RATE_LIMIT_ADDRESS_BURST": "100000000",
    "OPSDESK_RATE_LIMIT_ADDRESS_PER_MINUTE": "100000000",
    "OPSDESK_RATE_LIMIT_ORIGIN_BURST": "100000000",
    "OPSDESK_RATE_LIMIT_ORIGIN_PER_MINUTE": "100000000",
}
"""Limits far above the offered load, so the intake rate limiter never rejects."""
FILL_CHUNK_TICKETS = 100_000
"""Tickets copied per INSERT statement, so that no statement runs for minutes."""
NOTIFY_CHANNEL = "opsdesk_work"
POLL_SECONDS = 0.05
"""The observer also reads this often when no notification arrives."""
MIN_READ_GAP_SECONDS = 0.02
"""Shortest pause between two reads of the observer, so that a burst of notifications
(every intake and firing commit sends one) does not turn it into a load of its own."""
SETTLE_SECONDS = 20.0
"""After the last ticket, how long to wait for its clocks to warn and breach."""


def psql(statement: str, *, database: str = "postgres") -> None:
    url = make_url(POSTGRES)
    subprocess.run(
        [
            "psql",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-d",
            database,
            "-c",
            statement,
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )


def plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            command, env=os.environ | env, stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT
        )


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_tail(log: Path) -> str:
    return log.read_text(errors="replace")[-4000:]


async def wait_ready(
    url: str, process: subprocess.Popen[bytes], log: Path, within: float = 120.0
) -> None:
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


def intake_body(number: int) -> dict[str, str]:
    return {
        "name": f"Lag {number}",
        "email": f"lag{number}@example.com",
        "service_type": "repair",
        "contact_method": "email",
        "priority": "normal",
        "subject": f"Due lag request {number}",
        "description": "Generated by bench/due_lag_bench.py.",
    }


def ticket_number(reference: str) -> int:
    return int(reference.rsplit("-", 1)[1])


# Bulk fill


async def _columns(connection: asyncpg.Connection, table: str) -> list[str]:
    rows = await connection.fetch(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_name = $1 AND table_schema = 'public' ORDER BY ordinal_position",
        table,
    )
    return [row["column_name"] for row in rows]


async def open_clock_count(connection: asyncpg.Connection) -> int:
    count: int = await connection.fetchval(
        "SELECT count(*) FROM sla_clocks WHERE next_fire_at IS NOT NULL"
    )
    return count


async def fill(connection: asyncpg.Connection, template_ticket: int, target_clocks: int) -> float:
    """Copy the template ticket and its ticket clocks until `target_clocks` clocks are open.

    Return the seconds the inserts took.
    """
    ticket_columns = await _columns(connection, "tickets")
    clock_columns = await _columns(connection, "sla_clocks")
    template_clocks = [
        row["id"]
        for row in await connection.fetch(
            "SELECT id FROM sla_clocks WHERE ticket_id = $1 AND task_id IS NULL ORDER BY id",
            template_ticket,
        )
    ]
    began = time.perf_counter()
    while True:
        missing = target_clocks - await open_clock_count(connection)
        tickets = min(FILL_CHUNK_TICKETS, -(-missing // len(template_clocks)))
        if tickets <= 0:
            break
        ticket_base: int = await connection.fetchval("SELECT coalesce(max(id), 0) FROM tickets")
        clock_base: int = await connection.fetchval("SELECT coalesce(max(id), 0) FROM sla_clocks")
        ticket_values = {
            "id": "$2::bigint + g",
            "subject": "'Filler ticket ' || ($2::bigint + g)",
            "status_token_hash": (
                "encode(sha256(convert_to('filler-' || ($2::bigint + g), 'UTF8')), 'hex')"
            ),
        }
        async with connection.transaction():
            # Column names come from information_schema, values are bound parameters.
            copy_tickets = (
                f"INSERT INTO tickets ({', '.join(ticket_columns)}) "  # noqa: S608
                f"SELECT {', '.join(ticket_values.get(c, f't.{c}') for c in ticket_columns)} "
                "FROM tickets t CROSS JOIN generate_series(1, $3::bigint) AS g WHERE t.id = $1"
            )
            await connection.execute(
                copy_tickets,
                template_ticket,
                ticket_base,
                tickets,
            )
            for index, clock_id in enumerate(template_clocks):
                # Each copy comes due 30 days plus g seconds after the template, so the
                # copies spread over the index instead of sharing one instant.
                shift = "interval '30 days' + g * interval '1 second'"
                clock_values = {
                    "id": f"$2::bigint + (g - 1) * {len(template_clocks)} + {index + 1}",
                    "ticket_id": "$3::bigint + g",
                    "due_at": f"c.due_at + {shift}",
                    "warn_at": f"c.warn_at + {shift}",
                    "next_fire_at": f"c.next_fire_at + {shift}",
                }
                copy_clocks = (
                    f"INSERT INTO sla_clocks ({', '.join(clock_columns)}) "  # noqa: S608
                    f"SELECT {', '.join(clock_values.get(c, f'c.{c}') for c in clock_columns)} "
                    "FROM sla_clocks c CROSS JOIN generate_series(1, $4::bigint) AS g "
                    "WHERE c.id = $1"
                )
                await connection.execute(
                    copy_clocks,
                    clock_id,
                    clock_base,
                    ticket_base,
                    tickets,
                )
        await connection.execute(
            "SELECT setval('tickets_id_seq', (SELECT max(id) FROM tickets)), "
            "setval('sla_clocks_id_seq', (SELECT max(id) FROM sla_clocks))"
        )
    return time.perf_counter() - began


# Query plans


async def worker_queries(url: str) -> list[tuple[str, str, tuple[Any, ...]]]:
    """Run the worker's two clock queries once and return their SQL and parameters."""
    db = Database(url)
    captured: list[tuple[str, tuple[Any, ...]]] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def capture(
        _connection: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool
    ) -> None:
        if "sla_clocks" in statement:
            captured.append((statement, tuple(parameters or ())))

    try:
        async with db.read() as session:
            await next_fire_at(session)
        async with db.transaction() as session:
            # Only claims (locks) the clock; the commit releases it without firing it.
            await claim_due_clock(session, now=datetime.now(UTC))
    finally:
        await db.dispose()
    if len(captured) != 2:
        raise RuntimeError(f"expected two clock queries, captured {len(captured)}")
    (next_sql, next_params), (claim_sql, claim_params) = captured
    return [("claim_due_clock", claim_sql, claim_params), ("next_fire_at", next_sql, next_params)]


async def explain(url: str, label: str) -> None:
    connection = await asyncpg.connect(plain_dsn(url))
    try:
        await connection.execute("VACUUM ANALYZE sla_clocks")
        await connection.execute("ANALYZE tickets")
        count = await open_clock_count(connection)
        print(f"\n== {label}: {count:,} open clocks (next_fire_at set) ==")
        for name, sql, parameters in await worker_queries(url):
            print(f"-- {name}: {' '.join(sql.split())}")
            # FOR UPDATE locks rows even under EXPLAIN ANALYZE, so roll it back.
            transaction = connection.transaction()
            await transaction.start()
            try:
                rows = await connection.fetch(
                    f"EXPLAIN (ANALYZE, BUFFERS) {sql}",
                    *parameters,
                )
            finally:
                await transaction.rollback()
            print("\n".join(f"   {row[0]}" for row in rows))
    finally:
        await connection.close()


async def settle(dsn: str) -> None:
    """Vacuum the filled tables and write a checkpoint, so that the measurement runs on a
    database with a million open clocks rather than on the I/O left by the bulk load."""
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("VACUUM (ANALYZE) tickets")
        await connection.execute("VACUUM (ANALYZE) sla_clocks")
        await connection.execute("CHECKPOINT")
    finally:
        await connection.close()


# Measurement


@dataclass
class Watched:
    created: dict[int, float] = field(default_factory=dict)
    """Ticket id to the bench's clock when the API responded."""
    warned: dict[int, float] = field(default_factory=dict)
    """Ticket id to the lag in seconds from the warning's due instant to the observer."""
    breached: dict[int, float] = field(default_factory=dict)
    errors: int = 0
    intake_done: bool = False
    settled: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once intake is over and every created ticket's clock has breached."""


async def observe(dsn: str, watched: Watched, done: asyncio.Event) -> None:
    connection = await asyncpg.connect(dsn)
    woken = asyncio.Event()
    await connection.add_listener(NOTIFY_CHANNEL, lambda *_: woken.set())
    try:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(woken.wait(), POLL_SECONDS)
            woken.clear()
            pending_warning = [t for t in watched.created if t not in watched.warned]
            pending_breach = [t for t in watched.created if t not in watched.breached]
            if not pending_warning and not pending_breach:
                continue
            rows = await connection.fetch(
                "SELECT ticket_id, warned_at, breached_at FROM sla_clocks "
                "WHERE metric = 'first_response' AND task_id IS NULL AND ("
                "(ticket_id = ANY($1::bigint[]) AND warned_at IS NOT NULL) OR "
                "(ticket_id = ANY($2::bigint[]) AND breached_at IS NOT NULL))",
                pending_warning,
                pending_breach,
            )
            seen = time.time()
            for row in rows:
                ticket = row["ticket_id"]
                if row["warned_at"] is not None and ticket not in watched.warned:
                    watched.warned[ticket] = seen - row["warned_at"].timestamp()
                if row["breached_at"] is not None and ticket not in watched.breached:
                    watched.breached[ticket] = seen - row["breached_at"].timestamp()
            if watched.intake_done and len(watched.breached) >= len(watched.created):
                watched.settled.set()
            await asyncio.sleep(MIN_READ_GAP_SECONDS)
    finally:
        await connection.close()


async def create_tickets(base_url: str, rate: float, duration: float, watched: Watched) -> float:
    """Create tickets at `rate` per second for `duration` seconds; return the achieved rate."""
    total = int(rate * duration)
    limit = asyncio.Semaphore(64)
    began = time.monotonic()

    async def one(client: httpx.AsyncClient, number: int) -> None:
        async with limit:
            try:
                response = await client.post("/api/v1/requests", json=intake_body(number))
            except httpx.HTTPError:
                watched.errors += 1
                return
        if response.status_code != 201:
            watched.errors += 1
            return
        watched.created[ticket_number(response.json()["reference"])] = time.time()

    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        tasks = []
        for number in range(total):
            delay = began + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, number)))
        await asyncio.gather(*tasks)
    return len(watched.created) / (time.monotonic() - began)


async def table_scans(dsn: str) -> dict[str, tuple[int, int, int]]:
    """Return per table: sequential scans, rows they read, and index scans so far."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT relname, seq_scan, seq_tup_read, coalesce(idx_scan, 0) AS idx_scan "
            "FROM pg_stat_user_tables"
        )
    finally:
        await connection.close()
    return {row["relname"]: (row["seq_scan"], row["seq_tup_read"], row["idx_scan"]) for row in rows}


async def sample_activity(dsn: str, done: asyncio.Event) -> Counter[str]:
    """Count which statements other sessions of this database are running, every 20 ms,
    with what each is waiting for (a lock, I/O, a WAL flush) or "running"."""
    connection = await asyncpg.connect(dsn)
    seen: Counter[str] = Counter()
    try:
        while not done.is_set():
            rows = await connection.fetch(
                "SELECT query, wait_event_type, wait_event FROM pg_stat_activity "
                "WHERE datname = current_database() "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            )
            for row in rows:
                waiting = f"{row['wait_event_type']}:{row['wait_event']}"
                if row["wait_event_type"] is None:
                    waiting = "running"
                seen[f"[{waiting}] {' '.join(row['query'].split())[:130]}"] += 1
            await asyncio.sleep(0.02)
    finally:
        await connection.close()
    return seen


async def worker_lags(dsn: str, tickets: list[int]) -> dict[str, list[float]]:
    """Return, per kind, the worker's fired_at minus the due instant, from the timeline."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT e.kind, e.at, (e.data->>'fired_at')::timestamptz AS fired_at "
            "FROM timeline_entries e JOIN sla_clocks c ON c.id = e.clock_id "
            "WHERE e.ticket_id = ANY($1::bigint[]) AND c.metric = 'first_response' "
            "AND e.kind IN ('sla.warning', 'sla.breached')",
            tickets,
        )
    finally:
        await connection.close()
    lags: dict[str, list[float]] = {"sla.warning": [], "sla.breached": []}
    for row in rows:
        lags[row["kind"]].append((row["fired_at"] - row["at"]).total_seconds())
    return lags


def percentiles(values: list[float]) -> str:
    if not values:
        return "no values"
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return (
        f"n={len(ordered):5d}  p50 {statistics.median(ordered) * 1000:7.1f} ms  "
        f"p99 {at(0.99):7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
    )


async def run(args: argparse.Namespace, url: str, folder: Path) -> None:
    dsn = plain_dsn(url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        "OPSDESK_DATABASE_URL": url,
        "OPSDESK_LOG_LEVEL": "WARNING",
        "OPSDESK_BASE_URL": base_url,
    } | UNLIMITED
    processes: list[subprocess.Popen[bytes]] = []
    samples: list[Path] = []
    try:
        server = start(
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
            folder / "serve.log",
        )
        processes.append(server)
        await wait_ready(f"{base_url}/healthz", server, folder / "serve.log")
        async with httpx.AsyncClient(base_url=base_url) as client:
            response = await client.post("/api/v1/requests", json=intake_body(-1))
            response.raise_for_status()
        template = ticket_number(response.json()["reference"])

        connection = await asyncpg.connect(dsn)
        try:
            seconds = await fill(connection, template, args.small)
            print(f"filled to {args.small:,} open clocks in {seconds:.1f} s", flush=True)
        finally:
            await connection.close()
        await explain(url, "small")
        connection = await asyncpg.connect(dsn)
        try:
            seconds = await fill(connection, template, args.large)
            print(f"\nfilled to {args.large:,} open clocks in {seconds:.1f} s", flush=True)
        finally:
            await connection.close()
        await explain(url, "large")
        await settle(dsn)

        for number in range(args.workers):
            command = [str(BIN / "opsdesk"), "worker", "--config", str(WORKSPACE)]
            worker_env = env
            if args.sample_workers:
                samples.append(folder / f"worker-{number}.json")
                command = [sys.executable, str(ROOT / "bench" / "sampled_serve.py"), *command[1:]]
                worker_env = env | {"OPSDESK_SAMPLE_OUTPUT": str(samples[-1])}
            processes.append(start(command, worker_env, folder / f"worker-{number}.log"))
        # Workers recompute open clocks at start unless the workspace is unchanged, and it
        # is unchanged here. The pause lets them connect and fire the template's clocks.
        await asyncio.sleep(5)

        watched = Watched()
        done = asyncio.Event()
        observer = asyncio.create_task(observe(dsn, watched, done))
        activity = asyncio.create_task(sample_activity(dsn, done))
        scans_before = await table_scans(dsn)
        print(
            f"\ncreating tickets at {args.rate:g}/s for {args.duration:g} s with "
            f"{args.workers} worker(s); load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        achieved = await create_tickets(base_url, args.rate, args.duration, watched)
        watched.intake_done = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(watched.settled.wait(), SETTLE_SECONDS)
        done.set()
        await observer
        statements = await activity
        # PostgreSQL publishes a session's table statistics up to a second late.
        await asyncio.sleep(2)
        scans_after = await table_scans(dsn)
        missing = [t for t in watched.created if t not in watched.breached]
        lags = await worker_lags(dsn, list(watched.created))

        print(
            f"tickets created: {len(watched.created)} ({achieved:.1f}/s), "
            f"errors {watched.errors}, not breached within {SETTLE_SECONDS:g} s: {len(missing)}; "
            f"load average {os.getloadavg()[0]:.2f}"
        )
        print("due instant -> firing committed and seen by the observer")
        print(f"  warning  {percentiles(list(watched.warned.values()))}")
        print(f"  breach   {percentiles(list(watched.breached.values()))}")
        print("due instant -> worker's fired_at (timeline; taken before the worker's commit)")
        print(f"  warning  {percentiles(lags['sla.warning'])}")
        print(f"  breach   {percentiles(lags['sla.breached'])}")
        print("sequential scans during the run (table: scans, rows read; index scans)")
        for table, (scans, rows, index_scans) in sorted(scans_after.items()):
            before = scans_before.get(table, (0, 0, 0))
            if rows - before[1] or scans - before[0]:
                print(
                    f"  {table}: {scans - before[0]} scans, {rows - before[1]:,} rows; "
                    f"{index_scans - before[2]} index scans"
                )
        total = sum(statements.values())
        print(f"statements seen running by {total} samples of pg_stat_activity (top 8)")
        for statement, count in statements.most_common(8):
            print(f"  {count / total:6.1%}  {statement}")
    finally:
        for process in reversed(processes):
            stop(process)
    for path in samples:
        print(f"\nCPU samples of {path.stem}")
        report(json.loads(path.read_text()), 25)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=20.0, help="Tickets created per second.")
    parser.add_argument("--duration", type=float, default=60.0, help="Seconds of ticket intake.")
    parser.add_argument("--workers", type=int, default=2, help="`opsdesk worker` processes.")
    parser.add_argument("--small", type=int, default=10_000, help="Open clocks of the first plan.")
    parser.add_argument("--large", type=int, default=1_000_000, help="Open clocks of the run.")
    parser.add_argument(
        "--sample-workers",
        action="store_true",
        help="Run the workers under bench/sampled_serve.py and print where their CPU went.",
    )
    parser.add_argument(
        "--pg-database",
        default="opsdesk_due_lag",
        help="PostgreSQL database to drop, create and drop again.",
    )
    args = parser.parse_args()

    print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}, "
        f"{time.strftime('%a %b %d %H:%M:%S UTC %Y', time.gmtime())}",
        flush=True,
    )
    psql(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{args.pg_database}"')

    url = make_url(POSTGRES).set(database=args.pg_database).render_as_string(hide_password=False)
    try:
        migrated = subprocess.run(
            [str(BIN / "opsdesk"), "migrate", "--database", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if migrated.returncode != 0:
            sys.exit(
                f"opsdesk migrate failed on {url}; its output follows:\n{migrated.stderr[-4000:]}"
            )
        with tempfile.TemporaryDirectory(prefix="opsdesk-due-lag-") as folder:
            asyncio.run(run(args, url, Path(folder)))
    finally:
        psql(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
