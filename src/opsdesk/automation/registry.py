"""The rules in force: the workspace file's, then those created through the API."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.automation.models import AutomationRule
from opsdesk.automation.schema import Rule
from opsdesk.context import Context

RULE_CACHE_SECONDS = 5.0


@dataclass
class _RuleCache:
    rules: list[Rule]
    loaded_at: float


_cache: dict[int, _RuleCache] = {}


def forget_rules() -> None:
    """Drop the cached API rules of this process (after the rules API changed them)."""
    _cache.clear()


async def active_rules(session: AsyncSession, ctx: Context) -> list[Rule]:
    """Return the workspace's rules in file order, then API rules by position.

    API rules are cached for a few seconds per process, so a rule edited through another
    process takes effect within RULE_CACHE_SECONDS.
    """
    cached = _cache.get(id(ctx.workspace))
    now = time.monotonic()
    if cached is None or now - cached.loaded_at > RULE_CACHE_SECONDS:
        rows = (
            await session.execute(
                select(AutomationRule).order_by(AutomationRule.position, AutomationRule.id)
            )
        ).scalars()
        stored = [Rule.model_validate(row.definition) for row in rows]
        cached = _RuleCache(rules=stored, loaded_at=now)
        _cache[id(ctx.workspace)] = cached
    return [*ctx.workspace.spec.rules, *cached.rules]
