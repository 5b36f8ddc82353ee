"""Worker jobs: run event rules on committed events, and fire the timers of waiting rules."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.automation.engine import Cause, matches, rules_for_event
from opsdesk.automation.facts import event_facts, facts_without_task
from opsdesk.automation.models import RuleTimer
from opsdesk.automation.registry import active_rules
from opsdesk.automation.schema import Rule
from opsdesk.automation.service import run_rule
from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.events.models import OutboxEvent
from opsdesk.tasks.service import task_reference
from opsdesk.tickets import timeline
from opsdesk.tickets.models import Ticket

logger = logging.getLogger(__name__)


async def run_event_rules(db: Database, ctx: Context, *, limit: int = 100) -> int:
    """Run the matching rules of up to `limit` committed events, one event per transaction.

    Each rule runs inside a savepoint: a rule that fails (say it sets a status a closed
    ticket cannot take) is recorded on the timeline and the next rule still runs.
    Returns how many events were handled.
    """
    handled = 0
    while handled < limit:
        async with db.transaction() as session:
            rules = await active_rules(session, ctx)
            if not any(rule.on for rule in rules):
                # Nothing listens to events: mark them all handled in one statement. Rows
                # another worker is marking are skipped rather than waited for: it marks them.
                unmarked = (
                    select(OutboxEvent.id)
                    .where(OutboxEvent.rules_done_at.is_(None))
                    .with_for_update(skip_locked=True)
                )
                result = await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.id.in_(unmarked))
                    .values(rules_done_at=ctx.clock.now())
                )
                return handled + (result.rowcount or 0)  # type: ignore[attr-defined]
            event = (
                await session.execute(
                    select(OutboxEvent)
                    .where(OutboxEvent.rules_done_at.is_(None))
                    .order_by(OutboxEvent.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if event is None:
                return handled
            event.rules_done_at = ctx.clock.now()
            if event.ticket_id is not None:
                await _run_for_event(session, ctx, event, rules)
        handled += 1
    return handled


async def _run_for_event(
    session: AsyncSession, ctx: Context, event: OutboxEvent, rules: list[Rule]
) -> None:
    ticket = (
        await session.execute(select(Ticket).where(Ticket.id == event.ticket_id).with_for_update())
    ).scalar_one_or_none()
    if ticket is None:
        return
    now = ctx.clock.now()
    facts, task = await event_facts(
        session, ctx, ticket, event_type=event.type, payload=event.payload, at=event.occurred_at
    )
    trigger = f"{event.type} of task {task_reference(task)}" if task is not None else event.type
    cause = Cause.from_dict(event.cause)
    for rule in rules_for_event(rules, event_type=event.type, facts=facts, cause=cause):
        try:
            async with session.begin_nested():
                await run_rule(
                    session, ctx, rule, ticket, trigger=trigger, cause=cause, at=now, task=task
                )
        except Exception as exc:
            logger.warning("rule %s failed on event %s: %s", rule.key, event.event_id, exc)
            timeline.record(
                session,
                ticket_id=ticket.id,
                at=now,
                kind="rule.failed",
                actor=f"rule:{rule.key}",
                message=f"Rule {rule.name!r} failed on {trigger}: {_reason(exc)}",
                data={"rule": rule.key, "trigger": event.type},
            )


async def fire_rule_timers(db: Database, ctx: Context, *, limit: int = 100) -> int:
    """Fire the due timers of waiting rules, each in its own transaction."""
    handled = 0
    while handled < limit:
        now = ctx.clock.now()
        async with db.transaction() as session:
            timer = (
                await session.execute(
                    select(RuleTimer)
                    .where(RuleTimer.status == "pending", RuleTimer.fire_at <= now)
                    .order_by(RuleTimer.fire_at)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )
            ).scalar_one_or_none()
            if timer is None:
                return handled
            await _fire(session, ctx, timer, now)
        handled += 1
    return handled


async def _fire(session: AsyncSession, ctx: Context, timer: RuleTimer, now: datetime) -> None:
    timer.status = "done"
    timer.fired_at = now
    ticket = (
        await session.execute(select(Ticket).where(Ticket.id == timer.ticket_id).with_for_update())
    ).scalar_one_or_none()
    if ticket is None:
        return
    rule = next(
        (rule for rule in await active_rules(session, ctx) if rule.key == timer.rule_key), None
    )
    if rule is None or not rule.enabled or rule.after is None:
        timer.status = "cancelled"
        timeline.record(
            session,
            ticket_id=ticket.id,
            at=now,
            kind="rule.skipped",
            actor=f"rule:{timer.rule_key}",
            message=f"Rule {timer.rule_key} did not run: it was removed or disabled",
        )
        return
    if ticket.status != timer.waits_for:
        # A status change cancels waiting timers in its own transaction; this covers a
        # change that committed while this timer was being claimed.
        timer.status = "cancelled"
        return
    trigger = f"{rule.after.duration} in {timer.waits_for} ({rule.after.clock} time)"
    facts = await facts_without_task(session, ctx, ticket, at=timer.fire_at)
    if not matches(rule.when, facts):
        timeline.record(
            session,
            ticket_id=ticket.id,
            at=timer.fire_at,
            kind="rule.skipped",
            actor=f"rule:{rule.key}",
            message=f"Rule {rule.name!r} did not run after {trigger}: its conditions do not match",
        )
        return
    try:
        async with session.begin_nested():
            await run_rule(
                session, ctx, rule, ticket, trigger=trigger, cause=Cause(), at=timer.fire_at
            )
    except Exception as exc:
        logger.warning("waiting rule %s failed on ticket %s: %s", rule.key, ticket.id, exc)
        timer.last_error = str(exc)[:2000]
        timeline.record(
            session,
            ticket_id=ticket.id,
            at=timer.fire_at,
            kind="rule.failed",
            actor=f"rule:{rule.key}",
            message=f"Rule {rule.name!r} failed after {trigger}: {_reason(exc)}",
        )


def _reason(error: Exception) -> str:
    message = getattr(error, "message", None)
    return message if isinstance(message, str) else f"{type(error).__name__}: {error}"


async def next_rule_timer_at(session: AsyncSession) -> datetime | None:
    value: datetime | None = (
        await session.execute(
            select(RuleTimer.fire_at)
            .where(RuleTimer.status == "pending")
            .order_by(RuleTimer.fire_at)
            .limit(1)
        )
    ).scalar_one_or_none()
    return value
