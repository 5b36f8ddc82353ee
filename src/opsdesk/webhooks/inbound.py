"""Tickets from other systems' webhooks, received at ``POST /api/v1/inbound/{source}``.

Each source is declared under `inbound:` in the workspace file. Its `id_field` names the
body value that threads messages: the first message with a given id creates a ticket with
``external_ref = "{source}:{id}"``, and later ones update that ticket.

Idempotency rests on the Standard Webhooks ``webhook-id``, which a sender keeps for every
retry of one message. Each message handled is stored as an InboundEvent whose
`external_id` column stores that webhook-id, unique per source. A retry finds it, changes
nothing and gets the first outcome again. Messages of one thread are serialized (an
advisory lock on PostgreSQL, the database write lock on SQLite), so two messages about a
new id arriving at once create one ticket.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from opsdesk.context import Context
from opsdesk.errors import Conflict, InvalidInput, NotFound
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.tickets.schemas import LIMITS, IntakeRequest
from opsdesk.webhooks.models import InboundEvent
from opsdesk.workspace.schema import InboundSource, InboundValue, TicketStatus

logger = logging.getLogger(__name__)

EXTERNAL_REF_CHARS = 100
"""Length of tickets.external_ref, which stores "{source}:{id}"."""
MESSAGE_ID_CHARS = 200
"""Length of inbound_events.external_id, which stores the webhook-id."""
OUTCOME_CHARS = 200

Outcome = Literal["created", "updated", "unchanged", "ignored", "duplicate"]
_MISSING: Any = object()


@dataclass(frozen=True)
class InboundResult:
    outcome: Outcome
    external_id: str
    reference: str | None
    summary: str
    """One line, as stored on the InboundEvent."""
    changes: list[str] = field(default_factory=list)


def find_source(ctx: Context, key: str) -> InboundSource:
    """Return the enabled inbound source `key`, or raise NotFound."""
    for index, source in enumerate(ctx.workspace.spec.inbound):
        if source.key != key:
            continue
        if source.secret is None:
            variable = ctx.workspace.defaulted_variables.get(f"inbound[{index}].secret")
            cause = "it has no secret"
            if variable:
                cause = f"environment variable {variable} is not set"
            raise NotFound(f"inbound source {key!r} is disabled because {cause}")
        return source
    raise NotFound(f"inbound source {key!r} not found; declare it under inbound: in the workspace")


def read_path(body: Any, path: str) -> Any:
    """Return the value at a dotted path (``alert.labels.0``), or _MISSING."""
    current = body
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return _MISSING
    return current


def _fault(path: str, message: str) -> InvalidInput:
    return InvalidInput(
        f"cannot map {path}: {message}", details=[{"field": path, "message": message}]
    )


def _as_text(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    kind = "an object" if isinstance(value, dict) else "a list"
    raise _fault(path, f"is {kind}; expected text or a number")


def map_value(mapping: InboundValue, body: Any, *, required: bool) -> str | None:
    """Return the value a mapping gives for `body`.

    A field missing from the body (or null or empty) takes the default; without one it is
    an error when `required`, and None otherwise. A value with no entry in `map` takes
    the default, and is an error without one.
    """
    if mapping.value is not None:
        return mapping.value
    path = mapping.field or ""
    raw = read_path(body, path)
    if raw is _MISSING or raw is None or raw == "":
        if mapping.default is not None:
            return mapping.default
        if required:
            raise _fault(path, "missing in the request body, and the mapping has no default")
        return None
    value = _as_text(raw, path)
    if mapping.map is None:
        return value
    if value in mapping.map:
        return mapping.map[value]
    if mapping.default is not None:
        return mapping.default
    known = ", ".join(repr(key) for key in mapping.map)
    raise _fault(path, f"value {value!r} is not in the map ({known}) and there is no default")


def _label(mapping: InboundValue | None, target: str) -> str:
    """Name a mapping in errors: its body path, or the workspace key it was written under."""
    if mapping is not None and mapping.field:
        return mapping.field
    return f"create.{target}"


def external_id_of(source: InboundSource, body: Any) -> str:
    raw = read_path(body, source.id_field)
    if raw is _MISSING or raw is None or raw == "":
        raise _fault(source.id_field, "missing in the request body; it is the external id")
    value = _as_text(raw, source.id_field).strip()
    room = EXTERNAL_REF_CHARS - len(source.key) - 1
    if not value or len(value) > room:
        raise _fault(source.id_field, f"the external id must have 1 to {room} characters")
    return value


def _clip(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1] + "…"


def new_ticket_request(ctx: Context, source: InboundSource, body: Any) -> tickets.NewTicket:
    """Map the body onto a new ticket; raise InvalidInput naming the body path at fault."""
    create = source.create
    mappings: dict[str, tuple[InboundValue | None, bool]] = {
        "service_type": (create.service_type, True),
        "contact_method": (create.contact_method, True),
        "priority": (create.priority, False),
        "subject": (create.subject, True),
        "description": (create.description, True),
        "name": (create.name, True),
        "email": (create.email, True),
        "phone": (create.phone, False),
        "site_address": (create.site_address, False),
    }
    values: dict[str, str | None] = {}
    for target, (mapping, required) in mappings.items():
        values[target] = map_value(mapping, body, required=required) if mapping else None
    # An alert's title or text may be longer than a person's request; it is cut, not refused.
    values["subject"] = _clip(values["subject"], LIMITS["subject"])
    values["description"] = _clip(values["description"], LIMITS["description"])

    known = {
        "service_type": {service.key for service in ctx.workspace.spec.service_types},
        "contact_method": {method.key for method in ctx.workspace.spec.contact_methods},
        "priority": {priority.key for priority in ctx.workspace.spec.priorities},
    }
    for target, names in known.items():
        value = values[target]
        if value is not None and value not in names:
            path = _label(mappings[target][0], target)
            raise _fault(
                path,
                f"{target.replace('_', ' ')} {value!r} is unknown; expected one of "
                + ", ".join(sorted(names)),
            )
    try:
        request = IntakeRequest.model_validate(
            {name: value for name, value in values.items() if value is not None}
        )
    except ValidationError as exc:
        details = []
        for error in exc.errors():
            target = str(error["loc"][0]) if error["loc"] else "body"
            path = _label(mappings.get(target, (None, False))[0], target)
            message = str(error["msg"]).removeprefix("Value error, ")
            details.append({"field": path, "message": f"{target}: {message}"})
        paths = ", ".join(detail["field"] for detail in details)
        raise InvalidInput(f"cannot map {paths} onto a ticket", details=details) from exc
    return tickets.NewTicket.from_intake(request)


async def _lock_thread(session: AsyncSession, external_ref: str) -> None:
    """Serialize messages of one thread; SQLite transactions are serialized already."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"opsdesk-inbound:{external_ref}"},
        )


async def _earlier_result(
    session: AsyncSession,
    ctx: Context,
    event: InboundEvent,
    *,
    external_id: str,
    external_ref: str,
) -> InboundResult:
    ticket = await session.get(Ticket, event.ticket_id) if event.ticket_id else None
    if ticket is not None and ticket.external_ref not in (None, external_ref):
        raise Conflict(
            f"webhook-id {event.external_id} was already used for {ticket.external_ref}, not "
            f"{external_ref}; give every message its own webhook-id"
        )
    return InboundResult(
        outcome="duplicate",
        external_id=external_id,
        reference=tickets.reference_of(ctx, ticket) if ticket else None,
        summary=event.outcome,
    )


async def receive_message(
    session: AsyncSession,
    ctx: Context,
    source: InboundSource,
    *,
    message_id: str,
    body: Any,
) -> InboundResult:
    """Create or update the ticket of one verified message and record it.

    Raise InvalidInput naming the body path when the body does not fit the mappings.
    Nothing is stored then, so the sender can send the same message again after a fix.
    """
    if len(message_id) > MESSAGE_ID_CHARS:
        raise InvalidInput(
            f"webhook-id is {len(message_id)} characters long; at most {MESSAGE_ID_CHARS} "
            "are accepted",
            details=[{"field": "webhook-id", "message": "too long"}],
        )
    if not isinstance(body, dict):
        raise InvalidInput("the request body must be a JSON object")
    external_id = external_id_of(source, body)
    external_ref = f"{source.key}:{external_id}"
    await _lock_thread(session, external_ref)

    earlier = (
        await session.execute(
            select(InboundEvent).where(
                InboundEvent.source == source.key, InboundEvent.external_id == message_id
            )
        )
    ).scalar_one_or_none()
    if earlier is not None:
        return await _earlier_result(
            session, ctx, earlier, external_id=external_id, external_ref=external_ref
        )

    ticket = (
        await session.execute(
            select(Ticket)
            .where(Ticket.external_ref == external_ref)
            .order_by(Ticket.id.desc())
            .limit(1)
            .with_for_update()
        )
    ).scalar_one_or_none()
    now = ctx.clock.now()
    if ticket is None:
        created = await tickets.create_ticket(
            session,
            ctx,
            new_ticket_request(ctx, source, body),
            channel="inbound",
            at=now,
            external_ref=external_ref,
        )
        ticket = created.ticket
        reference = tickets.reference_of(ctx, ticket)
        result = InboundResult(
            outcome="created",
            external_id=external_id,
            reference=reference,
            summary=f"created {reference}",
        )
    elif ticket.status == TicketStatus.CLOSED:
        reference = tickets.reference_of(ctx, ticket)
        result = InboundResult(
            outcome="ignored",
            external_id=external_id,
            reference=reference,
            summary=f"ignored: {reference} is closed",
        )
    else:
        result = await _update_ticket(session, ctx, source, ticket, body, external_id=external_id)

    session.add(
        InboundEvent(
            source=source.key,
            external_id=message_id,
            ticket_id=ticket.id,
            outcome=result.summary[:OUTCOME_CHARS],
            received_at=now,
        )
    )
    await session.flush()
    logger.info(
        "inbound %s message %s for %s: %s", source.key, message_id, external_ref, result.summary
    )
    return result


async def _update_ticket(
    session: AsyncSession,
    ctx: Context,
    source: InboundSource,
    ticket: Ticket,
    body: Any,
    *,
    external_id: str,
) -> InboundResult:
    """Apply the update mappings: the note first, so a closing status cannot refuse it."""
    update = source.update
    reference = tickets.reference_of(ctx, ticket)
    if update is None:
        return InboundResult(
            outcome="unchanged",
            external_id=external_id,
            reference=reference,
            summary=f"unchanged {reference}: the source has no update mappings",
        )
    note = map_value(update.note, body, required=False) if update.note else None
    priority = map_value(update.priority, body, required=False) if update.priority else None
    status = map_value(update.status, body, required=False) if update.status else None
    if priority is not None:
        known = [priority_spec.key for priority_spec in ctx.workspace.spec.priorities]
        if priority not in known:
            raise _fault(
                _label(update.priority, "priority"),
                f"priority {priority!r} is unknown; expected one of {', '.join(known)}",
            )
    if status is not None and status not in {member.value for member in TicketStatus}:
        statuses = ", ".join(member.value for member in TicketStatus)
        raise _fault(
            _label(update.status, "status"),
            f"status {status!r} is unknown; expected one of {statuses}",
        )

    actor = f"inbound:{source.key}"
    reason = f"message from {source.key}"
    at = ctx.clock.now()
    changes: list[str] = []
    if note is not None and note.strip():
        body_text = _clip(note.strip(), LIMITS["body"]) or ""
        await tickets.add_agent_reply(
            session, ctx, ticket, author=None, body=body_text, public=False, at=at
        )
        changes.append("note added")
    if priority is not None and await tickets.change_priority(
        session, ctx, ticket, priority=priority, actor=actor, at=at, reason=reason
    ):
        changes.append(f"priority {priority}")
    if status is not None and await tickets.change_status(
        session, ctx, ticket, status=status, actor=actor, at=at, reason=reason
    ):
        changes.append(f"status {status}")
    if not changes:
        return InboundResult(
            outcome="unchanged",
            external_id=external_id,
            reference=reference,
            summary=f"unchanged {reference}",
        )
    return InboundResult(
        outcome="updated",
        external_id=external_id,
        reference=reference,
        summary=f"updated {reference}: {', '.join(changes)}",
        changes=changes,
    )
