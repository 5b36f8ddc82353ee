"""Helpers shared by test modules (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_WORKSPACE = ROOT / "examples" / "technical-services.yaml"


def shared_data_dir() -> Path:
    """The folder of public test data: OPSDESK_SHARED_DATA, or ../shared/data beside the project."""
    return Path(os.environ.get("OPSDESK_SHARED_DATA", ROOT.parent / "shared" / "data"))


def require_shared(path: Path, what: str) -> Path:
    """Return `path`, or skip the test when the public data is absent (fail under CI)."""
    if path.exists():
        return path
    message = f"{what} not found at {path}; set OPSDESK_SHARED_DATA to the shared data folder"
    if os.environ.get("OPSDESK_REQUIRE_SHARED_DATA") == "1":
        pytest.fail(message)
    pytest.skip(message)
