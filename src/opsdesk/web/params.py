"""Path parameter types shared by API routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from opsdesk.db import MAX_ROW_ID

RowId = Annotated[
    int, Path(ge=1, le=MAX_ROW_ID, description="A numeric id from an earlier response.")
]
"""A numeric row id in the path. Values out of the key range get a 422, not a database error."""
