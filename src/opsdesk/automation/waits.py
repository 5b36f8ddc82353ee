"""Timers of rules that wait: "after a ticket has been waiting on the customer for 3 days"."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.automation.engine import timed_rules_for_status
from opsdesk.automation.models import RuleTimer
from opsdesk.automation.registry import active_rules
from opsdesk.context import Context
from opsdesk.tickets.models import Ticket
from opsdesk.wakeups import request_wakeup


async def plan_wait_rules(
    session: AsyncSession, ctx: Context, ticket: Ticket, *, at: datetime
) -> None:
    """Start the timers of rules that wait on the ticket's new status; cancel the others.

    Called whenever a ticket enters a status, in the same transaction. Without any
    waiting rule in force it does nothing, so workspaces without them pay nothing.
    """
    rules = await active_rules(session, ctx)
    if not any(rule.after is not None for rule in rules):
        return
    await session.execute(
        update(RuleTimer)
        .where(
            RuleTimer.ticket_id == ticket.id,
            RuleTimer.status == "pending",
            RuleTimer.waits_for != ticket.status,
        )
        .values(status="cancelled")
    )
    waiting = timed_rules_for_status(rules, ticket.status)
    if not waiting:
        return
    policy = ctx.workspace.policy(ticket.sla_policy)
    calendar = ctx.workspace.calendar(ctx.workspace.policy_calendar_key(policy))
    for rule in waiting:
        assert rule.after is not None
        if rule.after.clock == "business":
            fire_at = calendar.add(at, rule.after.duration)
        else:
            fire_at = at + rule.after.duration
        session.add(
            RuleTimer(
                ticket_id=ticket.id,
                rule_key=rule.key,
                status="pending",
                waits_for=ticket.status,
                entered_at=at,
                fire_at=fire_at,
            )
        )
        request_wakeup(session, "timers")
