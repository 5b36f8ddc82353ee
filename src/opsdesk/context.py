"""What every service call needs besides its session: the workspace, the clock, settings."""

from __future__ import annotations

from dataclasses import dataclass

from opsdesk.clock import Clock
from opsdesk.settings import Settings
from opsdesk.workspace import Workspace


@dataclass(frozen=True)
class Context:
    workspace: Workspace
    clock: Clock
    settings: Settings
