"""The baselines of the intake benchmark: bare FastAPI endpoints that insert rows.

They use the same stack as Opsdesk (FastAPI, uvicorn, SQLAlchemy async, the same database
drivers, engine and SQLite settings through `opsdesk.db.create_engine`) and nothing else,
so the ratio between them and Opsdesk shows what Opsdesk's own work per request costs.
Run as a script, it starts uvicorn with the same arguments as `opsdesk serve`.

- POST /insert inserts one row: the baseline the throughput goal is set against.
- POST /insert-like-intake sends, in one transaction, the statements one Opsdesk intake
  request sends on that database, with as many rows: one parent row and nine child rows
  in five INSERT statements (a message, three clocks, a task, two timeline entries, two
  outbox events), and on PostgreSQL also the one query that reserves their ids and the
  NOTIFY. It has no validation, no middleware and no SLA arithmetic, so it is a floor for
  any implementation of intake on this stack that writes these rows.

Run: BASELINE_DATABASE_URL=... python bench/baseline_app.py --port 8001
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, String, Table, insert, text

from opsdesk.db import create_engine

metadata = MetaData()
rows = Table(
    "bench_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
children = Table(
    "bench_children",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent_id", Integer, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
CHILDREN = (("message", 1), ("clock", 3), ("task", 1), ("timeline", 2), ("outbox", 2))
"""Child rows of one intake request, by statement: kind and number of rows."""
RESERVE_IDS = text(
    "SELECT ARRAY(SELECT nextval('bench_rows_id_seq')), "
    "ARRAY(SELECT nextval('bench_children_id_seq') FROM generate_series(1, :count))"
).bindparams(count=sum(number for _, number in CHILDREN))
# The engine connects only when the app starts, and main() rejects a missing URL, so the
# placeholder lets `--help` work without the variable.
engine = create_engine(os.environ.get("BASELINE_DATABASE_URL", "sqlite+aiosqlite://"))
postgresql = engine.dialect.name == "postgresql"


@asynccontextmanager
async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
    async with engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/insert", status_code=201)
async def insert_row(body: dict[str, Any]) -> dict[str, int]:
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(rows).values(body=body, created_at=datetime.now(UTC))
        )
    return {"id": int(result.inserted_primary_key[0])}


@app.post("/insert-like-intake", status_code=201)
async def insert_like_intake(body: dict[str, Any]) -> dict[str, int]:
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        if postgresql:
            await connection.execute(RESERVE_IDS)
        result = await connection.execute(insert(rows).values(body=body, created_at=now))
        parent_id = int(result.inserted_primary_key[0])
        for kind, number in CHILDREN:
            await connection.execute(
                insert(children),
                [
                    {"parent_id": parent_id, "kind": kind, "body": body, "created_at": now}
                    for _ in range(number)
                ],
            )
        if postgresql:
            await connection.execute(text("SELECT pg_notify('bench', 'outbox')"))
    return {"id": parent_id}


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the baseline endpoint.")
    parser.add_argument("--port", type=int, default=8001, help="TCP port on 127.0.0.1.")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level name.")
    args = parser.parse_args()
    if not os.environ.get("BASELINE_DATABASE_URL"):
        parser.error("BASELINE_DATABASE_URL is not set; set it to the database URL to write to")
    # The same call as `opsdesk serve`: one process, uvicorn's default loop and HTTP parser
    # (uvloop and httptools when installed), no logging configuration of uvicorn's own.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level, log_config=None)


if __name__ == "__main__":
    main()
