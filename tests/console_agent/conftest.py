from __future__ import annotations

import httpx
import pytest
from console_agent_support import Console

from opsdesk.context import Context
from opsdesk.db import Database


@pytest.fixture
def console(client: httpx.AsyncClient, db: Database, ctx: Context) -> Console:
    return Console(client, db, ctx)
