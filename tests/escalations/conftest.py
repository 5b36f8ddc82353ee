from __future__ import annotations

import pytest
from ladder_support import ladder_workspace as build_ladder_workspace

from opsdesk.clock import FrozenClock
from opsdesk.context import Context
from opsdesk.workspace import Workspace


@pytest.fixture
def ladder_workspace() -> Workspace:
    return build_ladder_workspace()


@pytest.fixture
def ladder_ctx(ladder_workspace: Workspace, clock: FrozenClock, ctx: Context) -> Context:
    return Context(workspace=ladder_workspace, clock=clock, settings=ctx.settings)
