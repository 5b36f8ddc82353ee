"""Worker jobs that move events from the outbox to subscribers.

`dispatch_outbox` turns each new event into one delivery row per matching subscription.
`deliver_due` claims due deliveries under a lease, sends them with no database
transaction open, and records every attempt. A worker killed mid-send leaves its
deliveries leased. When the lease runs out another worker sends them again, so delivery is
at least once and receivers deduplicate on ``webhook-id``.

Every attempt checks the receiver's address with the outbound guard before sending, so a
URL that is or resolves to an internal address is refused with any client. Only the
client of `guard.outbound_client` also connects to the address it checked, which closes
the window for a DNS answer that changes in between; the worker sends with that client.

Faults of the subscription's own configuration (a refused address, a payload template
that fails) are recorded on the attempt and fail the delivery without retries.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import CursorResult, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.automation.engine import matches as condition_matches
from opsdesk.context import Context
from opsdesk.db import Database, new_public_id
from opsdesk.errors import InvalidInput
from opsdesk.events.models import OutboxEvent
from opsdesk.metrics import WEBHOOK_ATTEMPTS, WEBHOOK_COMMIT_TO_DELIVERY, WEBHOOK_SECONDS
from opsdesk.notifications.slack import slack_message
from opsdesk.tickets.models import Ticket
from opsdesk.wakeups import request_wakeup
from opsdesk.webhooks.conditions import (
    EventConditionGroup,
    EventFieldCondition,
    event_facts,
    parse_conditions,
)
from opsdesk.webhooks.disable import is_auto_disabled, note_attempt
from opsdesk.webhooks.guard import OutboundBlocked, ResolutionFailed, guard_for
from opsdesk.webhooks.headers import mask_headers
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookSubscription
from opsdesk.webhooks.rotation import signing_secrets
from opsdesk.webhooks.service import matches
from opsdesk.webhooks.signing import signature_headers
from opsdesk.webhooks.templates import TemplateFault, render_payload

logger = logging.getLogger(__name__)

USER_AGENT = "Opsdesk-Webhooks/0.1"
RESPONSE_EXCERPT_BYTES = 2048
# The delivery log keeps this much of each request body, because payload templates may
# render up to 256 KiB and every retry stores its own copy.
REQUEST_BODY_LOG_BYTES = 16 * 1024
RESPONSE_HEADERS_LOGGED = 50
RESPONSE_HEADER_VALUE_CHARS = 1000
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
RETRYABLE_STATUS = frozenset({408, 425, 429})


async def dispatch_outbox(db: Database, ctx: Context, *, limit: int = 200) -> int:
    """Fan out up to `limit` undispatched events; return how many were handled."""
    now = ctx.clock.now()
    async with db.transaction() as session:
        events = list(
            (
                await session.execute(
                    select(OutboxEvent)
                    .where(OutboxEvent.dispatched_at.is_(None))
                    .order_by(OutboxEvent.id)
                    .limit(limit)
                    .with_for_update(skip_locked=True)
                )
            ).scalars()
        )
        if not events:
            return 0
        subscriptions = list(
            (
                await session.execute(
                    select(WebhookSubscription).where(WebhookSubscription.active.is_(True))
                )
            ).scalars()
        )
        conditions = _parsed_conditions(subscriptions)
        tickets = await _tickets_of(session, events) if conditions else {}
        created = 0
        for event in events:
            facts: dict[str, Any] | None = None
            for subscription in subscriptions:
                if not (matches(subscription, event.type) or _addressed_to(subscription, event)):
                    continue
                if subscription.id in conditions:
                    if facts is None:
                        ticket = tickets.get(event.ticket_id) if event.ticket_id else None
                        facts = event_facts(event.type, event.payload, ticket)
                    condition = conditions[subscription.id]
                    if condition is None or not condition_matches(condition, facts):
                        continue
                session.add(
                    WebhookDelivery(
                        public_id=new_public_id("dlv"),
                        event_id=event.id,
                        subscription_id=subscription.id,
                        status="pending",
                        attempt_count=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                )
                created += 1
            event.dispatched_at = now
        if created:
            request_wakeup(session, "deliveries")
    return len(events)


def _parsed_conditions(
    subscriptions: list[WebhookSubscription],
) -> dict[int, EventFieldCondition | EventConditionGroup | None]:
    """Parse each subscription's stored conditions once per batch; None if they are invalid."""
    parsed: dict[int, EventFieldCondition | EventConditionGroup | None] = {}
    for subscription in subscriptions:
        if not subscription.conditions:
            continue
        try:
            parsed[subscription.id] = parse_conditions(subscription.conditions)
        except InvalidInput as exc:
            # Conditions are checked when saved, so this means a release changed their
            # shape. Sending every event could flood the receiver, so none is sent.
            logger.error(
                "webhook subscription %s has invalid stored conditions, so no event matches "
                "them: %s; update them through the API",
                subscription.public_id,
                exc,
            )
            parsed[subscription.id] = None
    return parsed


async def _tickets_of(session: AsyncSession, events: list[OutboxEvent]) -> dict[int, Ticket]:
    ids = {event.ticket_id for event in events if event.ticket_id is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Ticket).where(Ticket.id.in_(ids)))
    return {ticket.id: ticket for ticket in rows.scalars()}


def _addressed_to(subscription: WebhookSubscription, event: OutboxEvent) -> bool:
    """Whether an automation rule's call_webhook action named this subscription."""
    if event.type != "automation.rule_ran" or subscription.workspace_key is None:
        return False
    targets = event.payload.get("deliver_to") or []
    return subscription.workspace_key in targets


@dataclass(frozen=True)
class ClaimedDelivery:
    id: int
    public_id: str
    subscription_id: int
    kind: str
    url: str
    secrets: tuple[str, ...]
    """The signing secrets, current first; two during a rotation's overlap window."""
    headers: dict[str, str]
    payload_template: str | None
    event_id: str
    event_type: str
    occurred_at: datetime
    payload: dict[str, Any]
    attempt_count: int
    first_attempt_at: datetime | None


@dataclass(frozen=True)
class AttemptResult:
    started_at: datetime
    duration_ms: float
    request_headers: dict[str, str]
    status_code: int | None
    response_body: str | None
    error: str | None
    retry_after: float | None
    configuration_fault: bool = False
    """The subscription's own settings made the attempt fail; retrying cannot help."""
    request_body: bytes | None = None
    """The whole body as sent, or as built when the attempt failed before sending."""
    response_headers: dict[str, str] | None = None
    """Masked like the request headers; None when no response arrived."""

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def retryable(self) -> bool:
        if self.configuration_fault:
            return False
        if self.status_code is None:
            return True
        return self.status_code in RETRYABLE_STATUS or self.status_code >= 500


async def claim_deliveries(
    db: Database, ctx: Context, *, owner: str, limit: int
) -> list[ClaimedDelivery]:
    """Lease up to `limit` due deliveries to `owner` and return what is needed to send them."""
    now = ctx.clock.now()
    lease_until = now + timedelta(seconds=ctx.settings.webhook_lease_seconds)
    async with db.transaction() as session:
        rows = (
            await session.execute(
                select(WebhookDelivery, WebhookSubscription, OutboxEvent)
                .join(
                    WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
                )
                .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookSubscription.active.is_(True),
                    WebhookDelivery.next_attempt_at <= now,
                    or_(
                        WebhookDelivery.lease_expires_at.is_(None),
                        WebhookDelivery.lease_expires_at <= now,
                    ),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(limit)
                .with_for_update(of=WebhookDelivery, skip_locked=True)
            )
        ).all()
        claimed = []
        for delivery, subscription, event in rows:
            delivery.lease_owner = owner
            delivery.lease_expires_at = lease_until
            claimed.append(
                ClaimedDelivery(
                    id=delivery.id,
                    public_id=delivery.public_id,
                    subscription_id=subscription.id,
                    kind=subscription.kind,
                    url=subscription.url,
                    secrets=tuple(signing_secrets(subscription, at=now)),
                    headers=dict(subscription.headers or {}),
                    payload_template=subscription.payload_template,
                    event_id=event.event_id,
                    event_type=event.type,
                    occurred_at=event.occurred_at,
                    payload=event.payload,
                    attempt_count=delivery.attempt_count,
                    first_attempt_at=delivery.first_attempt_at,
                )
            )
    return claimed


def request_body(delivery: ClaimedDelivery, *, base_url: str) -> bytes:
    """The exact bytes sent; the same on every attempt of a delivery.

    Raise TemplateFault when the subscription's payload template fails for this event.
    """
    event = {
        "id": delivery.event_id,
        "type": delivery.event_type,
        "timestamp": delivery.occurred_at.isoformat(),
        "data": delivery.payload,
    }
    if delivery.payload_template:
        return render_payload(delivery.payload_template, event)
    if delivery.kind == "slack":
        document = slack_message(delivery.event_type, delivery.payload, base_url=base_url)
    else:
        document = event
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


async def check_destination(ctx: Context, url: str) -> None:
    """Resolve the URL's host and check every address it has with the outbound guard.

    Raise OutboundBlocked for an address webhooks may not reach, ResolutionFailed when
    the name does not resolve.
    """
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise OutboundBlocked(f"URL scheme {parsed.scheme or 'none'} is not http or https")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    await guard_for(ctx.settings).resolve(parsed.host, port)


def _fault(
    started_at: datetime, headers: dict[str, str], message: str, *, body: bytes | None = None
) -> AttemptResult:
    return AttemptResult(
        started_at=started_at,
        duration_ms=0.0,
        request_headers=mask_headers(headers),
        status_code=None,
        response_body=None,
        error=f"configuration fault: {message}",
        retry_after=None,
        configuration_fault=True,
        request_body=body,
    )


async def send(client: httpx.AsyncClient, ctx: Context, delivery: ClaimedDelivery) -> AttemptResult:
    started_at = ctx.clock.now()
    headers = {"content-type": "application/json", "user-agent": USER_AGENT}
    headers |= delivery.headers
    try:
        body = request_body(delivery, base_url=ctx.settings.base_url)
    except TemplateFault as exc:
        return _fault(started_at, headers, f"the payload template failed: {exc}")
    if delivery.kind == "webhook" and delivery.secrets:
        headers |= signature_headers(
            secrets=list(delivery.secrets),
            message_id=delivery.event_id,
            at=started_at,
            body=body,
        )

    timeout = ctx.settings.webhook_timeout_seconds
    begin = time.perf_counter()
    status_code: int | None = None
    response_body: str | None = None
    response_headers: dict[str, str] | None = None
    error: str | None = None
    retry_after: float | None = None
    try:
        # httpx applies its timeout to each network operation, so a receiver that sends a
        # byte at a time never trips it. The outer deadline bounds the whole attempt and so
        # keeps it shorter than the delivery's lease. Only an excerpt of the body is read.
        async with asyncio.timeout(timeout):
            await check_destination(ctx, delivery.url)
            async with client.stream(
                "POST", delivery.url, content=body, headers=headers, timeout=timeout
            ) as response:
                status_code = response.status_code
                response_headers = response_header_log(response)
                retry_after = parse_retry_after(response.headers.get("retry-after"), now=started_at)
                excerpt = await read_excerpt(response)
        response_body = excerpt.decode("utf-8", errors="replace")
    except OutboundBlocked as exc:
        return _fault(started_at, headers, str(exc), body=body)
    except ResolutionFailed as exc:
        status_code = None
        error = str(exc)
    except (httpx.TimeoutException, TimeoutError):
        status_code = None
        error = f"timed out after {timeout:g} s"
    except httpx.InvalidURL as exc:
        return _fault(started_at, headers, f"invalid URL: {exc}", body=body)
    except httpx.HTTPError as exc:
        status_code = None
        error = f"{type(exc).__name__}: {exc}"
    duration_ms = (time.perf_counter() - begin) * 1000

    return AttemptResult(
        started_at=started_at,
        duration_ms=duration_ms,
        request_headers=mask_headers(headers),
        status_code=status_code,
        response_body=response_body,
        error=error,
        retry_after=retry_after,
        request_body=body,
        response_headers=response_headers,
    )


def response_header_log(response: httpx.Response) -> dict[str, str]:
    """Return the response headers for the delivery log, secret-looking values masked.

    A header sent several times is joined with ", ". Only the first
    RESPONSE_HEADERS_LOGGED names are kept and each value is cut to
    RESPONSE_HEADER_VALUE_CHARS, because httpcore accepts response heads up to 100 KiB.
    """
    joined: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        lower = name.lower()
        if lower in joined:
            joined[lower] = f"{joined[lower]}, {value}"
        elif len(joined) < RESPONSE_HEADERS_LOGGED:
            joined[lower] = value
    return {
        name: value[:RESPONSE_HEADER_VALUE_CHARS]
        + ("…" if len(value) > RESPONSE_HEADER_VALUE_CHARS else "")
        for name, value in mask_headers(joined).items()
    }


def request_body_log(body: bytes | None) -> str | None:
    """Return the first REQUEST_BODY_LOG_BYTES of the body as text, for the delivery log."""
    if body is None:
        return None
    # "ignore" drops only a UTF-8 sequence that the cut split, because bodies are UTF-8 JSON.
    return body[:REQUEST_BODY_LOG_BYTES].decode("utf-8", errors="ignore")


async def read_excerpt(response: httpx.Response) -> bytes:
    """Read the first RESPONSE_EXCERPT_BYTES of the body and leave the rest unread."""
    excerpt = b""
    async for chunk in response.aiter_bytes():
        excerpt += chunk
        if len(excerpt) >= RESPONSE_EXCERPT_BYTES:
            break
    return excerpt[:RESPONSE_EXCERPT_BYTES]


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Return the Retry-After header as seconds from now (it may be seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def backoff_seconds(
    attempt: int, *, retry_after: float | None, rng: random.Random | None = None
) -> float:
    """Delay before attempt `attempt + 1`: exponential with jitter, never less than Retry-After."""
    rng = rng or random.Random()
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** (attempt - 1))
    delay = ceiling / 2 + rng.uniform(0, ceiling / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


async def record_attempt(
    db: Database, ctx: Context, delivery: ClaimedDelivery, result: AttemptResult, *, owner: str
) -> str:
    """Store the attempt and the delivery's next state; return the outcome.

    The outcome is succeeded, retry or failed, or lease_expired when another worker took
    the delivery meanwhile, or deleted when the delivery is gone with its subscription.
    The attempt also moves the subscription's failing run, which may disable it.
    """
    now = ctx.clock.now()
    number = delivery.attempt_count + 1
    first_attempt_at = delivery.first_attempt_at or result.started_at
    delay = 0.0
    if result.succeeded:
        outcome = "succeeded"
    elif result.retryable:
        delay = backoff_seconds(number, retry_after=result.retry_after)
        give_up_at = first_attempt_at + timedelta(seconds=ctx.settings.webhook_retry_span_seconds)
        outcome = "retry" if now + timedelta(seconds=delay) <= give_up_at else "failed"
    else:
        outcome = "failed"
    async with db.transaction() as session:
        # The subscription row is locked before the delivery row, in the same order as
        # disabling takes them, so two attempts of one subscription cannot deadlock.
        subscription = await session.get(
            WebhookSubscription, delivery.subscription_id, with_for_update=True
        )
        if subscription is not None:
            await note_attempt(
                session,
                ctx,
                subscription,
                succeeded=result.succeeded,
                status_code=result.status_code,
                attempt_at=result.started_at,
            )
            if outcome == "retry" and is_auto_disabled(subscription):
                outcome = "failed"
        values: dict[str, Any] = {
            "attempt_count": WebhookDelivery.attempt_count + 1,
            "first_attempt_at": first_attempt_at,
            "last_status_code": result.status_code,
            "last_error": result.error,
            "lease_owner": None,
            "lease_expires_at": None,
        }
        if outcome == "retry":
            values["next_attempt_at"] = now + timedelta(seconds=delay)
        else:
            values["status"] = outcome
            values["completed_at"] = now
        # Only the lease holder moves the delivery on. If the lease ran out and another
        # worker took the delivery, this attempt is kept as "lease_expired" and changes
        # nothing. If the subscription was deleted meanwhile, there is nothing to keep.
        moved = await session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery.id,
                WebhookDelivery.status == "pending",
                WebhookDelivery.lease_owner == owner,
            )
            .values(**values)
        )
        assert isinstance(moved, CursorResult)
        if moved.rowcount == 0:
            exists = await session.scalar(
                select(WebhookDelivery.id).where(WebhookDelivery.id == delivery.id)
            )
            outcome = "lease_expired" if exists is not None else "deleted"
        if outcome != "deleted":
            session.add(
                WebhookAttempt(
                    delivery_id=delivery.id,
                    number=number,
                    started_at=result.started_at,
                    duration_ms=result.duration_ms,
                    request_url=delivery.url,
                    request_headers=result.request_headers,
                    request_body=request_body_log(result.request_body),
                    request_body_bytes=(
                        len(result.request_body) if result.request_body is not None else None
                    ),
                    status_code=result.status_code,
                    response_headers=result.response_headers,
                    response_body=result.response_body,
                    error=result.error,
                    outcome=outcome,
                    worker=owner,
                )
            )
    _log_attempt(delivery, result, number=number, outcome=outcome, owner=owner)
    WEBHOOK_ATTEMPTS.labels(outcome).inc()
    if result.status_code is not None or result.error is not None:
        WEBHOOK_SECONDS.observe(result.duration_ms / 1000)
    if outcome == "succeeded":
        finished_at = result.started_at + timedelta(milliseconds=result.duration_ms)
        WEBHOOK_COMMIT_TO_DELIVERY.observe(
            max(0.0, (finished_at - delivery.occurred_at).total_seconds())
        )
    return outcome


def _log_attempt(
    delivery: ClaimedDelivery, result: AttemptResult, *, number: int, outcome: str, owner: str
) -> None:
    if outcome == "lease_expired":
        logger.warning(
            "webhook delivery %s of event %s attempt %d by %s ended after its lease expired "
            "and another worker took the delivery; the attempt (status %s) changes nothing",
            delivery.public_id,
            delivery.event_id,
            number,
            owner,
            result.status_code,
        )
        return
    if outcome == "deleted":
        logger.info(
            "webhook delivery %s of event %s was deleted with its subscription during "
            "attempt %d; the attempt is not stored",
            delivery.public_id,
            delivery.event_id,
            number,
        )
        return
    level = logging.INFO if outcome == "succeeded" else logging.WARNING
    logger.log(
        level,
        "webhook delivery %s of event %s attempt %d: %s (status %s, %.0f ms)%s",
        delivery.public_id,
        delivery.event_id,
        number,
        outcome,
        result.status_code,
        result.duration_ms,
        f": {result.error}" if result.error else "",
    )


async def deliver_due(
    db: Database,
    ctx: Context,
    client: httpx.AsyncClient,
    *,
    owner: str,
    limit: int = 50,
    concurrency: int = 16,
) -> int:
    """Send up to `limit` due deliveries, `concurrency` at a time; return how many were attempted.

    Each batch is claimed only when the previous one is done, so no claimed delivery waits
    for a free slot while its lease runs out.
    """

    async def attempt(delivery: ClaimedDelivery) -> None:
        result = await send(client, ctx, delivery)
        await record_attempt(db, ctx, delivery, result, owner=owner)

    attempted = 0
    while attempted < limit:
        batch = min(concurrency, limit - attempted)
        claimed = await claim_deliveries(db, ctx, owner=owner, limit=batch)
        if not claimed:
            break
        await asyncio.gather(*(attempt(delivery) for delivery in claimed))
        attempted += len(claimed)
    return attempted


async def next_delivery_at(db: Database) -> datetime | None:
    """Return when the next delivery becomes due, leaving out those of inactive subscriptions.

    Those are never claimed, so counting them would wake the worker loop without end.
    """
    async with db.sessions() as session:
        # A leased delivery is due again only when its lease runs out.
        due = func.coalesce(WebhookDelivery.lease_expires_at, WebhookDelivery.next_attempt_at)
        value: datetime | None = (
            await session.execute(
                select(func.min(due))
                .join(
                    WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id
                )
                .where(WebhookDelivery.status == "pending", WebhookSubscription.active.is_(True))
            )
        ).scalar_one_or_none()
        return value
