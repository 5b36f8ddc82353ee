"""Webhook latency: from a ticket's creation to the ticket.created webhook at a receiver.

All processes run on 127.0.0.1 and the script stops them:

- a receiver (this script with --receiver, a separate process) that responds to every
  request with 200 and keeps the arrival time (time.time() once the body is read) and
  the body of each POST;
- `opsdesk serve --no-worker` and one `opsdesk worker` on a PostgreSQL database that the
  script drops and creates again, with the example workspace plus one signed webhook
  subscription to ticket.created pointing at the receiver. OPSDESK_WEBHOOK_ALLOWED_HOSTS
  is set to 127.0.0.1, because the outbound guard blocks loopback addresses otherwise.
  With --in-process-worker the worker runs inside `opsdesk serve` instead.

Before Opsdesk starts, the script sends 200 requests straight to the receiver with their
send time in the body: the baseline, which is what one local HTTP request from a Python
client costs on this machine at that moment. After a short warm-up, the script creates
tickets through POST /api/v1/requests at a fixed rate for a fixed time (at most 64
requests in flight), waits for the webhooks, and prints:

- event time -> arrival: the event's `timestamp` (the outbox row's occurred_at, which is
  the ticket's creation instant inside the request transaction, some milliseconds before
  its commit) to arrival. This is an upper bound of the commit-to-arrival latency.
- response -> arrival: the moment the API's 201 response reached this script (after the
  commit) to arrival. This is a lower bound, and negative when the webhook came first.
- the stages of event time -> arrival, from the database: to the start of the worker
  transaction that turned the event into a delivery (dispatch), from there to the start
  of the first attempt, and from there to arrival.

Run: .venv/bin/python bench/webhook_latency_bench.py [--rate 100] [--duration 30]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import yaml
from sqlalchemy.engine import make_url

from bench_support import BIN, POSTGRES, UNLIMITED, free_port, psql, start, stop, wait_ready
from opsdesk.yamlio import load_yaml

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parent.parent
WORKSPACE = ROOT / "examples" / "technical-services.yaml"
WARM_UP_TICKETS = 20
SETTLE_SECONDS = 60.0
"""After the last ticket, how long to wait for the remaining webhooks."""
MAX_IN_FLIGHT = 64
BASELINE_REQUESTS = 200
"""Requests this script sends straight to the receiver before Opsdesk starts."""


# Receiver process


async def _serve_receiver(port: int, records: list[tuple[float, bytes]]) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                if body:
                    records.append((time.time(), body))
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def run_receiver(port: int, output: Path, limit_seconds: float) -> None:
    """Receive webhooks until SIGTERM or `limit_seconds`, then write them as JSON lines."""
    records: list[tuple[float, bytes]] = []
    with contextlib.suppress(TimeoutError):
        asyncio.run(asyncio.wait_for(_serve_receiver(port, records), limit_seconds))
    with output.open("w") as sink:
        for arrived, body in records:
            sink.write(json.dumps({"arrived": arrived, "body": body.decode()}) + "\n")


# Benchmark


def write_workspace(folder: Path, receiver_port: int) -> Path:
    """Write the example workspace with one subscription: ticket.created to the receiver."""
    # Opsdesk's own loader reads ``on:`` as a key; PyYAML's safe_load would read True.
    spec = load_yaml(WORKSPACE.read_text(encoding="utf-8")).data
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    spec["subscriptions"] = [
        {
            "key": "latency_receiver",
            "kind": "webhook",
            "url": f"http://127.0.0.1:{receiver_port}/hook",
            "secret": secret,
            "events": ["ticket.created"],
        }
    ]
    path = folder / "workspace.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def intake_body(number: int) -> dict[str, str]:
    return {
        "name": f"Hook {number}",
        "email": f"hook{number}@example.com",
        "phone": "+234 803 555 0101",
        "service_type": "solar_repair",
        "contact_method": "phone_call",
        "priority": "medium",
        "subject": f"Webhook latency request {number}",
        "description": "Generated by bench/webhook_latency_bench.py.",
    }


@dataclass
class Intake:
    responded: dict[str, float] = field(default_factory=dict)
    """Ticket reference to the time.time() at which the 201 response arrived."""
    errors: int = 0


async def create_tickets(base_url: str, rate: float, count: int, intake: Intake) -> float:
    """Create `count` tickets at `rate` per second; return the achieved rate."""
    limit = asyncio.Semaphore(MAX_IN_FLIGHT)
    began = time.monotonic()

    async def one(client: httpx.AsyncClient, number: int) -> None:
        async with limit:
            try:
                response = await client.post("/api/v1/requests", json=intake_body(number))
            except httpx.HTTPError:
                intake.errors += 1
                return
        if response.status_code != 201:
            intake.errors += 1
            return
        intake.responded[response.json()["reference"]] = time.time()

    async with httpx.AsyncClient(
        base_url=base_url,
        timeout=30.0,
        limits=httpx.Limits(max_connections=MAX_IN_FLIGHT),
    ) as client:
        tasks = []
        for number in range(count):
            delay = began + number / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(client, number)))
        await asyncio.gather(*tasks)
    return len(intake.responded) / (time.monotonic() - began)


async def post_directly(receiver_url: str, count: int, rate: float) -> None:
    """Send `count` small JSON bodies straight to the receiver, each with its send time.

    This is the baseline: the cost of one local HTTP request from a Python client to the
    receiver, which every webhook pays as well.
    """
    async with httpx.AsyncClient(timeout=10.0) as client:
        for number in range(count):
            body = {"type": "baseline", "id": number, "sent": time.time()}
            response = await client.post(receiver_url, json=body)
            response.raise_for_status()
            await asyncio.sleep(1 / rate)


def read_baseline(path: Path) -> list[float]:
    """Return arrival minus send time of each baseline request the receiver stored."""
    lags = []
    with path.open() as source:
        for line in source:
            record = json.loads(line)
            body = json.loads(record["body"])
            if body.get("type") == "baseline":
                lags.append(record["arrived"] - body["sent"])
    return lags


def read_arrivals(path: Path) -> dict[str, tuple[float, float, str]]:
    """Return reference -> (arrival, event timestamp, event id) of ticket.created webhooks."""
    arrivals: dict[str, tuple[float, float, str]] = {}
    duplicates = 0
    with path.open() as source:
        for line in source:
            record = json.loads(line)
            event = json.loads(record["body"])
            if event.get("type") != "ticket.created":
                continue
            reference = event["data"]["reference"]
            if reference in arrivals:
                duplicates += 1
                continue
            occurred = datetime.fromisoformat(event["timestamp"]).timestamp()
            arrivals[reference] = (record["arrived"], occurred, event["id"])
    if duplicates:
        print(f"duplicate deliveries received: {duplicates}")
    return arrivals


def percentiles(values: list[float]) -> str:
    if not values:
        return "no values"
    ordered = sorted(values)

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    return (
        f"n={len(ordered):5d}  p50 {statistics.median(ordered) * 1000:7.1f} ms  "
        f"p90 {at(0.90):7.1f} ms  p99 {at(0.99):7.1f} ms  max {ordered[-1] * 1000:7.1f} ms"
    )


async def delivery_stages(dsn: str) -> dict[str, tuple[float, float]]:
    """Return event id -> (event time to dispatch, dispatch to first attempt), in seconds.

    A delivery row's created_at is the dispatching worker's clock when its transaction
    began, and an attempt's started_at is the sender's clock just before the request.
    """
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT e.event_id, e.occurred_at, d.created_at, min(a.started_at) AS attempted "
            "FROM outbox_events e "
            "JOIN webhook_deliveries d ON d.event_id = e.id "
            "JOIN webhook_attempts a ON a.delivery_id = d.id "
            "WHERE e.type = 'ticket.created' "
            "GROUP BY e.event_id, e.occurred_at, d.created_at"
        )
    finally:
        await connection.close()
    return {
        row["event_id"]: (
            (row["created_at"] - row["occurred_at"]).total_seconds(),
            (row["attempted"] - row["created_at"]).total_seconds(),
        )
        for row in rows
    }


async def delivery_summary(dsn: str) -> str:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT status, count(*) AS deliveries, sum(attempt_count) AS attempts "
            "FROM webhook_deliveries GROUP BY status ORDER BY status"
        )
    finally:
        await connection.close()
    return ", ".join(
        f"{row['status']}: {row['deliveries']} ({row['attempts']} attempts)" for row in rows
    )


async def measure(args: argparse.Namespace, url: str, folder: Path) -> None:
    receiver_port, port = free_port(), free_port()
    base_url = f"http://127.0.0.1:{port}"
    arrivals_file = folder / "arrivals.jsonl"
    workspace = write_workspace(folder, receiver_port)
    env = {
        "OPSDESK_DATABASE_URL": url,
        "OPSDESK_LOG_LEVEL": "WARNING",
        "OPSDESK_BASE_URL": base_url,
        "OPSDESK_WEBHOOK_ALLOWED_HOSTS": "127.0.0.1",
    } | UNLIMITED
    limit = args.duration + SETTLE_SECONDS + 120
    receiver = start(
        [
            sys.executable,
            str(SCRIPT),
            "--receiver",
            str(receiver_port),
            str(arrivals_file),
            str(limit),
        ],
        {},
        folder / "receiver.log",
    )
    processes = [receiver]
    try:
        serve = [str(BIN / "opsdesk"), "serve", "--config", str(workspace), "--port", str(port)]
        if not args.in_process_worker:
            serve.append("--no-worker")
        await wait_ready(f"http://127.0.0.1:{receiver_port}/", receiver, folder / "receiver.log")
        await post_directly(
            f"http://127.0.0.1:{receiver_port}/hook", BASELINE_REQUESTS, min(args.rate, 50.0)
        )
        server = start(serve, env, folder / "serve.log")
        processes.append(server)
        await wait_ready(f"{base_url}/healthz", server, folder / "serve.log")
        if not args.in_process_worker:
            processes.append(
                start(
                    [str(BIN / "opsdesk"), "worker", "--config", str(workspace)],
                    env,
                    folder / "worker.log",
                )
            )
        warm_up = Intake()
        await create_tickets(base_url, 10.0, WARM_UP_TICKETS, warm_up)
        await asyncio.sleep(3)

        intake = Intake()
        count = int(args.rate * args.duration)
        print(
            f"creating {count} tickets at {args.rate:g}/s; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        achieved = await create_tickets(base_url, args.rate, count, intake)
        print(
            f"created {len(intake.responded)} tickets at {achieved:.1f}/s, "
            f"errors {intake.errors}; load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        # The receiver's file is written only when it stops, so wait on the database.
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        deadline = time.monotonic() + SETTLE_SECONDS
        expected = WARM_UP_TICKETS + len(intake.responded)
        while time.monotonic() < deadline:
            connection = await asyncpg.connect(dsn)
            try:
                sent = await connection.fetchval(
                    "SELECT count(*) FROM webhook_deliveries WHERE status = 'succeeded'"
                )
            finally:
                await connection.close()
            if sent >= expected:
                break
            await asyncio.sleep(1)
        print(f"deliveries: {await delivery_summary(dsn)}")
        stages = await delivery_stages(dsn)
    finally:
        for process in reversed(processes):
            stop(process)

    arrivals = read_arrivals(arrivals_file)
    event_to_arrival = []
    response_to_arrival = []
    to_dispatch = []
    to_attempt = []
    attempt_to_arrival = []
    missing = 0
    for reference, responded in intake.responded.items():
        if reference not in arrivals:
            missing += 1
            continue
        arrived, occurred, event_id = arrivals[reference]
        event_to_arrival.append(arrived - occurred)
        response_to_arrival.append(arrived - responded)
        if event_id in stages:
            dispatch_lag, attempt_lag = stages[event_id]
            to_dispatch.append(dispatch_lag)
            to_attempt.append(attempt_lag)
            attempt_to_arrival.append(arrived - occurred - dispatch_lag - attempt_lag)
    baseline = read_baseline(arrivals_file)
    print(f"tickets without a webhook at the receiver: {missing}")
    print(f"baseline: direct POST     {percentiles(baseline)}")
    print(f"event time -> arrival     {percentiles(event_to_arrival)}")
    print(f"response -> arrival       {percentiles(response_to_arrival)}")
    print("stages of event time -> arrival")
    print(f"  event -> dispatch       {percentiles(to_dispatch)}")
    print(f"  dispatch -> attempt     {percentiles(to_attempt)}")
    print(f"  attempt -> arrival      {percentiles(attempt_to_arrival)}")


def main() -> None:
    if len(sys.argv) == 5 and sys.argv[1] == "--receiver":
        run_receiver(int(sys.argv[2]), Path(sys.argv[3]), float(sys.argv[4]))
        return

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0, help="Tickets created per second.")
    parser.add_argument("--duration", type=float, default=30.0, help="Seconds of ticket intake.")
    parser.add_argument(
        "--in-process-worker",
        action="store_true",
        help="Run the worker inside `opsdesk serve` instead of as its own process.",
    )
    parser.add_argument(
        "--pg-database",
        default="opsdesk_webhook_bench",
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
        with tempfile.TemporaryDirectory(prefix="opsdesk-webhook-bench-") as folder:
            asyncio.run(measure(args, url, Path(folder)))
    finally:
        psql(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
