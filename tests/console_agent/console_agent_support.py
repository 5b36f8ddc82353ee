"""Helpers of the console page tests: staff accounts, sign-in, forms and HTML lookups."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.sla.jobs import fire_due_clocks
from opsdesk.users import auth
from opsdesk.users import service as users

PASSWORD = "correct horse battery staple"
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'
VOID_TAGS = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}
)

REQUEST: dict[str, Any] = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "service_type": "solar_repair",
    "contact_method": "phone_call",
    "priority": "medium",
    "subject": "Inverter beeps and shuts down",
    "description": "Since yesterday the inverter shuts down every hour.",
}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page:
    """Elements of an HTML page that carry a data-testid, with their text content."""

    html: str
    elements: list[Element] = field(default_factory=list)

    def all(self, testid: str) -> list[Element]:
        return [element for element in self.elements if element.attrs.get("data-testid") == testid]

    def one(self, testid: str) -> Element:
        found = self.all(testid)
        assert len(found) == 1, f"{len(found)} elements with data-testid={testid!r}"
        return found[0]

    def has(self, testid: str) -> bool:
        return bool(self.all(testid))


class _TestidParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, Element | None]] = []
        self.found: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        element = Element(tag, values) if "data-testid" in values else None
        if element is not None:
            self.found.append(element)
        if tag not in VOID_TAGS:
            self.stack.append((tag, element))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index][0] == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        for _, element in self.stack:
            if element is not None:
                element.text += data


def parse_page(html: str) -> Page:
    parser = _TestidParser()
    parser.feed(html)
    parser.close()
    for element in parser.found:
        element.text = " ".join(element.text.split())
    return Page(html=html, elements=parser.found)


def hidden_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, f"no hidden field {name!r} in the page"
    return match.group(1)


@dataclass(frozen=True)
class Account:
    id: int
    email: str
    role: str


class Console:
    """A browser-like client of the console: signs in with the form and posts forms."""

    def __init__(self, client: httpx.AsyncClient, db: Database, ctx: Context) -> None:
        self.client = client
        self.db = db
        self.ctx = ctx
        self.csrf_token = ""
        client.headers["Accept"] = "text/html"

    async def account(self, role: str, teams: list[str] | None = None) -> Account:
        email = f"{role}-{uuid.uuid4().hex[:6]}@example.com"
        async with self.db.transaction() as session:
            user = await users.create_user(
                session,
                email=email,
                name=email.split("@")[0],
                role=role,
                teams=teams or [],
                known_teams=[team.key for team in self.ctx.workspace.spec.teams],
                at=self.ctx.clock.now(),
            )
            await auth.set_password(session, user=user, password=PASSWORD)
        return Account(id=user.id, email=email, role=role)

    async def sign_in(self, account: Account) -> None:
        self.client.cookies.clear()
        form = await self.client.get("/console/login")
        assert form.status_code == 200, form.text
        response = await self.client.post(
            "/console/login",
            data={
                "email": account.email,
                "password": PASSWORD,
                "login_csrf": hidden_value(form.text, "login_csrf"),
            },
        )
        assert response.status_code == 303, response.text
        home = "/console/my-tasks" if account.role == "technician" else "/console/queue"
        page = await self.client.get(home)
        assert page.status_code == 200, page.text[:2000]
        self.csrf_token = hidden_value(page.text, "csrf_token")

    async def signed_in(self, role: str, teams: list[str] | None = None) -> Account:
        account = await self.account(role, teams)
        await self.sign_in(account)
        return account

    async def page(self, url: str, status: int = 200) -> Page:
        response = await self.client.get(url)
        assert response.status_code == status, (response.status_code, response.text[:2000])
        return parse_page(response.text)

    async def post(self, url: str, data: dict[str, str], *, csrf: bool = True) -> httpx.Response:
        """Post a form as the page would, with the session's CSRF token unless `csrf` is off."""
        fields = {"csrf_token": self.csrf_token, **data} if csrf else data
        return await self.client.post(url, data=fields)

    async def submit(self, **changes: Any) -> str:
        """Create a ticket through the public intake API and return its reference."""
        response = await self.client.post("/api/v1/requests", json={**REQUEST, **changes})
        assert response.status_code == 201, response.text
        reference: str = response.json()["reference"]
        return reference

    async def fire_clocks(self) -> int:
        return await fire_due_clocks(self.db, self.ctx)
