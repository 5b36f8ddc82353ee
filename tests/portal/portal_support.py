"""Form values, page parsing and HTTP steps shared by the portal and widget tests."""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from html import unescape
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from opsdesk.db import Database
from opsdesk.tickets.models import Attachment, Ticket

TEST_ATTACHMENT_BYTES = 4096
"""Attachment size limit of these tests, small so that files over it stay small too."""

FORM: dict[str, str] = {
    "service_type": "solar_repair",
    "contact_method": "phone_call",
    "priority": "high",
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "subject": "Inverter beeps and shuts down",
    "description": "Since yesterday the inverter shuts down every hour.",
    "site_address": "",
}

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(40)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(40)
PDF = b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n"
TEXT = b"Meter reading 0412, fault light blinks twice.\n"
HTML = b"<html><body><script>alert(1)</script></body></html>"
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + bytes(40)

OpenApp = Callable[..., AbstractAsyncContextManager[FastAPI]]
"""The `open_app` fixture: start an app with changed settings, as `async with open_app(...)`."""

FileParts = list[tuple[str, tuple[str, bytes, str]]]
"""Files as httpx takes them: (field, (filename, content, content type))."""


def hidden_value(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match is not None, f"no hidden field {name} in the page"
    return unescape(match.group(1))


def field_error(html: str, name: str) -> str | None:
    """Return the error text shown next to field `name`, or None."""
    match = re.search(rf'data-testid="error-{name}">([^<]*)<', html)
    return unescape(match.group(1)) if match else None


def element_text(html: str, testid: str) -> str:
    match = re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html)
    assert match is not None, f"no element with data-testid={testid}"
    return unescape(match.group(1)).strip()


def token_of(location: str) -> str:
    """Return the status token at the end of a redirect to a confirmation page."""
    match = re.fullmatch(r"/(?:request|widget)/sent/([A-Za-z0-9_\-]+)(\?.*)?", location)
    assert match is not None, location
    return match.group(1)


async def open_form(client: httpx.AsyncClient, path: str = "/request") -> str:
    """GET a portal form page and return its CSRF token; the client keeps the cookie."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return hidden_value(response.text, "csrf_token")


async def post_request(
    client: httpx.AsyncClient,
    *,
    files: FileParts | None = None,
    csrf: str | None = None,
    **changes: str,
) -> httpx.Response:
    """Open the portal form and post FORM with `changes`, as a browser would."""
    token = csrf if csrf is not None else await open_form(client)
    data = FORM | changes | {"csrf_token": token}
    # httpx sends multipart only with files; an empty file input is what browsers send.
    parts: FileParts = files or [("attachments", ("", b"", "application/octet-stream"))]
    return await client.post("/request", data=data, files=parts)


async def create_request(client: httpx.AsyncClient, **changes: Any) -> str:
    """Create a request through the portal form and return its status token."""
    response = await post_request(client, **changes)
    assert response.status_code == 303, response.text
    return token_of(response.headers["location"])


async def ticket_count(db: Database) -> int:
    async with db.read() as session:
        return len((await session.execute(select(Ticket.id))).all())


async def only_ticket(db: Database) -> Ticket:
    async with db.read() as session:
        tickets = list((await session.execute(select(Ticket))).scalars())
    assert len(tickets) == 1, tickets
    return tickets[0]


async def stored_attachments(db: Database) -> list[Attachment]:
    async with db.read() as session:
        return list((await session.execute(select(Attachment).order_by(Attachment.id))).scalars())


def client_for(app: FastAPI, address: str = "127.0.0.1", **headers: str) -> httpx.AsyncClient:
    """Return an HTTP client to `app` whose requests come from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers)
