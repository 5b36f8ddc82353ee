"""Profile `opsdesk serve` while wrk drives POST /api/v1/requests.

The server runs under bench/sampled_serve.py, a stack sampler that follows SQLAlchemy's
greenlets (cProfile does not), on a fresh database of the chosen kind. wrk sends intake
requests for a fixed time, and SIGINT then stops uvicorn so that the sampler writes its
summary. The script prints where the process's CPU time went: the share of samples
spent in each package (own time), and the functions that appear in the most busy
samples (inclusive time).

Run: .venv/bin/python bench/intake_profile.py --database postgresql [--duration 15]
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from intake_bench import (
    BIN,
    ROOT,
    UNLIMITED,
    WORKSPACE,
    free_port,
    fresh_database,
    psql,
    serve,
    wrk,
)


def package_of(frame: str) -> str:
    """Return the top-level package or module of a sampled frame such as
    ``sqlalchemy/orm/session.py:flush``."""
    path = frame.split(":", 1)[0]
    return path.split("/", 1)[0] if "/" in path else path.removesuffix(".py")


def report(summary: dict[str, object], top: int) -> None:
    busy = int(summary["busy"])  # type: ignore[call-overload]
    loop = int(summary["loop"])  # type: ignore[call-overload]
    own = dict(summary["own"])  # type: ignore[call-overload]
    inclusive = dict(summary["inclusive"])  # type: ignore[call-overload]
    print(
        f"{busy + loop} CPU-time samples: {busy} in Python code on the event loop "
        f"thread, {loop} in the loop itself or in other threads"
    )
    packages: Counter[str] = Counter()
    for frame, count in own.items():
        packages[package_of(frame)] += count
    print("\nown time by package (share of busy samples)")
    for package, count in packages.most_common(15):
        print(f"  {count / busy:6.1%}  {package}")
    print("\ninclusive time: functions in the most busy samples")
    for frame, count in sorted(inclusive.items(), key=lambda item: -item[1])[:top]:
        print(f"  {count / busy:6.1%}  {frame}")
    print("\ninclusive time of Opsdesk's own functions")
    ours = [(frame, count) for frame, count in inclusive.items() if frame.startswith("opsdesk/")]
    for frame, count in sorted(ours, key=lambda item: -item[1])[:top]:
        print(f"  {count / busy:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="postgresql")
    parser.add_argument("--duration", type=int, default=15, help="Seconds of load.")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--top", type=int, default=40, help="Functions listed per table.")
    parser.add_argument("--pg-database", default="opsdesk_bench")
    parser.add_argument("--output", type=Path, help="Also keep the sampler's JSON in this file.")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="opsdesk-profile-") as name:
        folder = Path(name)
        url = fresh_database(args.database, folder, args.pg_database)
        profile = args.output or folder / "samples.json"
        try:
            subprocess.run(
                [str(BIN / "opsdesk"), "migrate", "--database", url],
                check=True,
                capture_output=True,
                timeout=120,
            )
            port = free_port()
            env = {
                "OPSDESK_DATABASE_URL": url,
                "OPSDESK_LOG_LEVEL": "WARNING",
                "OPSDESK_BASE_URL": f"http://127.0.0.1:{port}",
                "OPSDESK_SAMPLE_OUTPUT": str(profile),
            } | UNLIMITED
            command = [
                sys.executable,
                str(ROOT / "bench" / "sampled_serve.py"),
                "serve",
                "--config",
                str(WORKSPACE),
                "--port",
                str(port),
                "--no-worker",
            ]
            process = serve(command, env, f"http://127.0.0.1:{port}/healthz", folder / "serve.log")
            try:
                result = wrk(
                    f"http://127.0.0.1:{port}/api/v1/requests",
                    ROOT / "bench" / "intake.lua",
                    args.connections,
                    args.duration,
                )
            finally:
                # SIGINT lets uvicorn return normally, so the sampler's exit hook runs.
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        finally:
            if args.database == "postgresql":
                psql(f'DROP DATABASE IF EXISTS "{args.pg_database}" WITH (FORCE)')
        print(
            f"{args.database}, {args.connections} connections: {result.requests} requests, "
            f"{result.requests_per_second:.1f} req/s, p50 {result.p50_ms:.1f} ms, "
            f"p99 {result.p99_ms:.1f} ms, non-2xx {result.non_2xx}"
        )
        report(json.loads(profile.read_text()), args.top)


if __name__ == "__main__":
    main()
