"""The baseline of the intake benchmark: a bare FastAPI endpoint that inserts one row.

It uses the same stack as Opsdesk (FastAPI, uvicorn, SQLAlchemy async, the same database
drivers and SQLite settings) and nothing else, so the ratio between the two shows what
Opsdesk's own work per request costs.

Run: BASELINE_DATABASE_URL=... uvicorn bench.baseline_app:app
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

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


@app.post("/insert", status_code=201)
async def insert_row(body: dict[str, Any]) -> dict[str, int]:
    async with engine.begin() as connection:
        result = await connection.execute(
            insert(rows).values(body=body, created_at=datetime.now(UTC))
        )
    return {"id": int(result.inserted_primary_key[0])}
