"""Helpers of the supervisor and admin console tests: sign-in, tickets, HTML lookups."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import httpx
from sqlalchemy import select, update

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.models import SlaClock
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Ticket
from opsdesk.users import auth
from opsdesk.users import service as users
from opsdesk.users.models import WebSession

PASSWORD = "correct horse battery staple"
HTML = {"Accept": "text/html"}
VOID_TAGS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}


@dataclass(frozen=True)
class SignedIn:
    email: str
    user_id: int
    csrf_token: str


async def create_staff(
    db: Database,
    ctx: Context,
    role: str,
    *,
    email: str | None = None,
    name: str | None = None,
    teams: list[str] | None = None,
) -> tuple[str, int]:
    """Create a user with the password PASSWORD; return its e-mail and id."""
    email = email or f"{role}@example.com"
    async with db.transaction() as session:
        user = await users.create_user(
            session,
            email=email,
            name=name or role.title(),
            role=role,
            teams=teams or [],
            known_teams=[team.key for team in ctx.workspace.spec.teams],
            at=ctx.clock.now(),
        )
        await auth.set_password(session, user=user, password=PASSWORD)
        user_id = user.id
    return email, user_id


async def sign_in(
    client: httpx.AsyncClient, db: Database, email: str, password: str = PASSWORD
) -> SignedIn:
    """Sign in through the login form; the client's cookie jar then contains the session."""
    client.cookies.clear()
    form = await client.get("/console/login")
    assert form.status_code == 200, form.text
    match = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
    assert match is not None
    response = await client.post(
        "/console/login",
        data={"email": email, "password": password, "login_csrf": match.group(1), "next": ""},
    )
    assert response.status_code == 303, response.text
    cookie = client.cookies.get("opsdesk_session")
    assert cookie is not None
    session_id = hashlib.sha256(cookie.encode()).hexdigest()
    async with db.read() as session:
        web_session = await session.get(WebSession, session_id)
        assert web_session is not None
        return SignedIn(email=email, user_id=web_session.user_id, csrf_token=web_session.csrf_token)


async def sign_in_as(
    client: httpx.AsyncClient, db: Database, ctx: Context, role: str, **fields: Any
) -> SignedIn:
    email, _ = await create_staff(db, ctx, role, **fields)
    return await sign_in(client, db, email)


def new_ticket(**changes: Any) -> tickets.NewTicket:
    values: dict[str, Any] = {
        "name": "Ada Obi",
        "email": "ada@example.com",
        "phone": "+234 803 555 0101",
        "service_type": "solar_repair",
        "contact_method": "phone_call",
        "priority": "medium",
        "subject": "Inverter beeps and shuts down",
        "description": "Since yesterday the inverter shuts down every hour.",
    }
    values.update(changes)
    return tickets.NewTicket(**values)


async def create_ticket(
    db: Database, ctx: Context, *, at: datetime | None = None, **changes: Any
) -> tuple[int, str]:
    """Create a ticket through the ticket service; return its id and reference."""
    async with db.transaction() as session:
        created = await tickets.create_ticket(
            session, ctx, new_ticket(**changes), channel="api", at=at
        )
        return created.ticket.id, tickets.reference_of(ctx, created.ticket)


async def set_clock(db: Database, ticket_id: int, metric: str, **values: Any) -> None:
    """Overwrite stored columns of a ticket's own clock, to build statistics by hand."""
    async with db.transaction() as session:
        await session.execute(
            update(SlaClock)
            .where(
                SlaClock.ticket_id == ticket_id,
                SlaClock.task_id.is_(None),
                SlaClock.metric == metric,
            )
            .values(**values)
        )


async def ticket_row(db: Database, ticket_id: int) -> Ticket:
    async with db.read() as session:
        ticket = (await session.execute(select(Ticket).where(Ticket.id == ticket_id))).scalar_one()
        return ticket


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())


class _Finder(HTMLParser):
    def __init__(self, attribute: str, value: str | None) -> None:
        super().__init__(convert_charrefs=True)
        self.attribute = attribute
        self.value = value
        self.found: list[Element] = []
        self._open: list[tuple[str, Element | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        wanted = self.attribute in values and (
            self.value is None or values[self.attribute] == self.value
        )
        element = Element(tag=tag, attrs=values) if wanted else None
        if element is not None:
            self.found.append(element)
        if tag not in VOID_TAGS:
            self._open.append((tag, element))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index][0] == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for _, element in self._open:
            if element is not None:
                element.parts.append(data)


def find_all(
    html: str, value: str | None = None, *, attribute: str = "data-testid"
) -> list[Element]:
    """Return the elements whose `attribute` equals `value` (or that have it at all)."""
    finder = _Finder(attribute, value)
    finder.feed(html)
    finder.close()
    return finder.found


def find_one(html: str, value: str, *, attribute: str = "data-testid") -> Element:
    found = find_all(html, value, attribute=attribute)
    assert len(found) == 1, f"{len(found)} elements with {attribute}={value!r}"
    return found[0]


def text_of(html: str, value: str) -> str:
    return find_one(html, value).text
