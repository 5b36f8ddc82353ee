"""The baseline of the intake benchmark: a bare FastAPI endpoint that inserts one row.

It uses the same stack as Opsdesk (FastAPI, uvicorn, SQLAlchemy async, the same database
drivers, engine and SQLite settings through `opsdesk.db.create_engine`) and nothing else,
so the ratio between the two shows what Opsdesk's own work per request costs. Run as a
script, it starts uvicorn with the same arguments as `opsdesk serve`.

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
from sqlalchemy import JSON, Column, DateTime, Integer, MetaData, Table, insert

from opsdesk.db import create_engine

metadata = MetaData()
rows = Table(
    "bench_rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("body", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
engine = create_engine(os.environ["BASELINE_DATABASE_URL"])


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


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the baseline endpoint.")
    parser.add_argument("--port", type=int, default=8001, help="TCP port on 127.0.0.1.")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level name.")
    args = parser.parse_args()
    # The same call as `opsdesk serve`: one process, uvicorn's default loop and HTTP parser
    # (uvloop and httptools when installed), no logging configuration of uvicorn's own.
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level, log_config=None)


if __name__ == "__main__":
    main()
