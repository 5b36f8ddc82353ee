"""HTTP routes for intake (public), the customer status link and the agents' ticket API."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import AwareDatetime
from sqlalchemy.exc import IntegrityError

from opsdesk.errors import Conflict, InvalidInput
from opsdesk.tickets import queries
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import IdempotencyKey
from opsdesk.tickets.schemas import (
    IntakeRequest,
    IntakeResponse,
    MessageView,
    PublicStatus,
    QueryText,
    ReplyRequest,
    TicketDetail,
    TicketPage,
    TicketUpdate,
)
from opsdesk.tickets.timeline import actor_for_user
from opsdesk.users.service import users_with
from opsdesk.web.deps import Agent, ContextDep, DatabaseDep, Staff
from opsdesk.web.responses import JSON_BODY_ERRORS, STAFF_ERRORS, error_responses
from opsdesk.workspace.schema import TicketStatus

router = APIRouter(prefix="/api/v1", responses=error_responses(422))

IDEMPOTENCY_KEY_MAX = 255


def _request_hash(request: IntakeRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_idempotency_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > IDEMPOTENCY_KEY_MAX or not key.isprintable():
        raise InvalidInput(
            f"invalid Idempotency-Key header: use 1 to {IDEMPOTENCY_KEY_MAX} printable characters, "
            "for example a UUID",
            details=[{"field": "Idempotency-Key", "message": "invalid header value"}],
        )
    return key


@router.post(
    "/requests",
    status_code=201,
    response_model=IntakeResponse,
    tags=["intake"],
    responses=error_responses(*JSON_BODY_ERRORS, 409, 429),
)
async def submit_request(
    body: IntakeRequest,
    response: Response,
    db: DatabaseDep,
    ctx: ContextDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> Any:
    """Create a ticket from a customer request. Public: the portal and the widget call it.

    With an Idempotency-Key header, a retry with the same key and body returns the
    first response again, and the same key with another body is rejected with 409.
    """
    key = _check_idempotency_key(idempotency_key)
    request_hash = _request_hash(body)
    for _ in range(2):
        try:
            async with db.transaction() as session:
                if key is not None:
                    stored = await session.get(IdempotencyKey, key)
                    if stored is not None:
                        if stored.request_hash != request_hash:
                            raise Conflict(
                                f"Idempotency-Key {key!r} was already used with a different body; "
                                "use a new key for a new request"
                            )
                        response.headers["Idempotent-Replayed"] = "true"
                        return stored.response
                created = await tickets.create_ticket(
                    session, ctx, tickets.NewTicket.from_intake(body), channel="api"
                )
                dues = {clock.metric: clock.due_at for clock in created.clocks}
                result = IntakeResponse(
                    reference=tickets.reference_of(ctx, created.ticket),
                    status=created.ticket.status,
                    status_url=f"{ctx.settings.base_url}/api/v1/requests/status/{created.status_token}",
                    status_page_url=f"{ctx.settings.base_url}/status/{created.status_token}",
                    first_response_due=dues.get("first_response"),
                    resolution_due=dues.get("resolution"),
                ).model_dump(mode="json")
                if key is not None:
                    session.add(
                        IdempotencyKey(
                            key=key,
                            request_hash=request_hash,
                            ticket_id=created.ticket.id,
                            response=result,
                            created_at=ctx.clock.now(),
                        )
                    )
                    await session.flush()
                return result
        except IntegrityError:
            # Another request with the same key committed first; the loop reads its response.
            if key is None:
                raise
    raise Conflict(f"Idempotency-Key {key!r} is being used by a concurrent request; retry")


@router.get(
    "/requests/status/{token}",
    response_model=PublicStatus,
    tags=["intake"],
    responses=error_responses(404),
)
async def request_status(
    token: str, response: Response, db: DatabaseDep, ctx: ContextDep
) -> PublicStatus:
    """Return the customer's view of a request, reached through the intake response's link.

    The token in the path is the only key to the request, so no cache may keep the response.
    """
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Robots-Tag"] = "noindex"
    async with db.read() as session:
        ticket = await tickets.ticket_by_status_token(session, token)
        return await queries.public_status(session, ctx, ticket)


@router.post(
    "/requests/status/{token}/replies",
    status_code=201,
    response_model=PublicStatus,
    tags=["intake"],
    responses=error_responses(*JSON_BODY_ERRORS, 404, 409, 429),
)
async def customer_reply(
    token: str, body: ReplyRequest, db: DatabaseDep, ctx: ContextDep
) -> PublicStatus:
    """Add the customer's reply through their status link.

    A ticket waiting on the customer, or resolved, goes back to open; a reply after the
    first response opens a next-response cycle when the policy has that target.
    """
    async with db.transaction() as session:
        found = await tickets.ticket_by_status_token(session, token)
        ticket = await tickets.access_ticket(
            session, ctx, tickets.reference_of(ctx, found), lock=True
        )
        await tickets.add_customer_reply(session, ctx, ticket, body=body.body)
        return await queries.public_status(session, ctx, ticket)


@router.get(
    "/tickets",
    response_model=TicketPage,
    tags=["tickets"],
    responses=error_responses(*STAFF_ERRORS),
)
async def list_tickets(
    db: DatabaseDep,
    ctx: ContextDep,
    _user: Staff,
    status: Annotated[list[TicketStatus] | None, Query()] = None,
    priority: Annotated[list[QueryText] | None, Query()] = None,
    service_type: QueryText | None = None,
    pipeline: QueryText | None = None,
    team: QueryText | None = None,
    assignee: Annotated[
        QueryText | None, Query(description="E-mail address of the assignee.")
    ] = None,
    breached: bool | None = None,
    q: Annotated[
        QueryText | None,
        Query(max_length=200, description="Text in the subject or requester name."),
    ] = None,
    created_after: AwareDatetime | None = None,
    created_before: AwareDatetime | None = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_PAGE)] = 50,
    cursor: QueryText | None = None,
) -> TicketPage:
    filters = queries.TicketFilters(
        status=[str(value) for value in status] if status else None,
        priority=priority,
        service_type=service_type,
        pipeline=pipeline,
        team=team,
        assignee_email=assignee,
        breached=breached,
        q=q,
        created_after=created_after,
        created_before=created_before,
    )
    async with db.read() as session:
        return await queries.list_tickets(session, ctx, filters, limit=limit, cursor=cursor)


@router.get(
    "/tickets/{reference}",
    response_model=TicketDetail,
    tags=["tickets"],
    responses=error_responses(*STAFF_ERRORS, 404),
)
async def get_ticket(
    reference: str, db: DatabaseDep, ctx: ContextDep, _user: Staff
) -> TicketDetail:
    async with db.read() as session:
        ticket = await tickets.access_ticket(session, ctx, reference)
        return await queries.ticket_detail(session, ctx, ticket)


async def _add_message(
    reference: str,
    body: ReplyRequest,
    db: DatabaseDep,
    ctx: ContextDep,
    user: Agent,
    *,
    public: bool,
) -> MessageView:
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        message = await tickets.add_agent_reply(
            session, ctx, ticket, author=user, body=body.body, public=public
        )
        # The message gets its id when the action is written; an internal note triggers
        # no query that would write it earlier.
        await session.flush()
        return MessageView(
            id=message.id,
            author_kind=message.author_kind,
            author_email=user.email,
            public=message.public,
            body=message.body,
            created_at=message.created_at,
        )


@router.post(
    "/tickets/{reference}/replies",
    status_code=201,
    response_model=MessageView,
    tags=["tickets"],
    responses=error_responses(*STAFF_ERRORS, *JSON_BODY_ERRORS, 404, 409),
)
async def reply(
    reference: str, body: ReplyRequest, db: DatabaseDep, ctx: ContextDep, user: Agent
) -> MessageView:
    """Reply to the customer. The first public reply meets the first-response target."""
    return await _add_message(reference, body, db, ctx, user, public=True)


@router.post(
    "/tickets/{reference}/notes",
    status_code=201,
    response_model=MessageView,
    tags=["tickets"],
    responses=error_responses(*STAFF_ERRORS, *JSON_BODY_ERRORS, 404, 409),
)
async def add_note(
    reference: str, body: ReplyRequest, db: DatabaseDep, ctx: ContextDep, user: Agent
) -> MessageView:
    """Add an internal note, which the customer never sees."""
    return await _add_message(reference, body, db, ctx, user, public=False)


@router.patch(
    "/tickets/{reference}",
    response_model=TicketDetail,
    tags=["tickets"],
    responses=error_responses(*STAFF_ERRORS, *JSON_BODY_ERRORS, 404, 409),
)
async def update_ticket(
    reference: str, body: TicketUpdate, db: DatabaseDep, ctx: ContextDep, user: Agent
) -> TicketDetail:
    """Change status, priority or assignment. Fields left out stay as they are."""
    actor = actor_for_user(user.id)
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        if body.priority is not None:
            await tickets.change_priority(
                session, ctx, ticket, priority=body.priority, actor=actor, reason=body.reason
            )
        if body.status is not None:
            await tickets.change_status(
                session, ctx, ticket, status=body.status, actor=actor, reason=body.reason
            )
        if body.contact_method is not None:
            await tickets.change_contact_method(
                session,
                ctx,
                ticket,
                contact_method=body.contact_method,
                actor=actor,
                reason=body.reason,
            )
        if body.team is not None or body.assignee_email is not None:
            assignee = None
            if body.assignee_email is not None:
                found = await users_with(session, email=str(body.assignee_email))
                if not found:
                    raise InvalidInput(
                        f"no active user with e-mail {body.assignee_email}",
                        details=[{"field": "assignee_email", "message": "no such active user"}],
                    )
                assignee = found[0]
            await tickets.assign(
                session,
                ctx,
                ticket,
                actor=actor,
                team=body.team,
                assignee=assignee,
                reason=body.reason,
            )
        await session.flush()
        return await queries.ticket_detail(session, ctx, ticket)
