"""The customer portal over HTTP: service list, request form, confirmation, status and replies.

The test clock is at Tue 10 Mar 2026 10:00 in Lagos (09:00 UTC). A high-priority phone
call falls under the "standard" policy of examples/technical-services.yaml, whose first
response target is 1 working hour, so it is due at 11:00 Lagos time the same day.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from portal_support import (
    FORM,
    create_request,
    element_text,
    field_error,
    hidden_value,
    only_ticket,
    open_form,
    post_request,
    ticket_count,
    token_of,
)

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import TicketMessage
from opsdesk.workspace.schema import TicketStatus

MakeUser = Any


async def _set_status(db: Database, ctx: Context, reference: str, status: str) -> None:
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, reference, lock=True)
        await tickets.change_status(session, ctx, ticket, status=status, actor="system")


# Home and form


async def test_home_lists_workspace_service_types(client: httpx.AsyncClient, ctx: Context) -> None:
    response = await client.get("/")

    assert response.status_code == 200
    for service in ctx.workspace.spec.service_types:
        assert f'href="/request?service_type={service.key}"' in response.text
        assert service.name in response.text


async def test_request_form_built_from_workspace(client: httpx.AsyncClient, ctx: Context) -> None:
    response = await client.get("/request?service_type=hvac_repair")

    assert response.status_code == 200
    page = response.text
    assert '<option value="hvac_repair" selected>' in page
    for method in ctx.workspace.spec.contact_methods:
        assert f'value="{method.key}"' in page
    assert re.search(
        r'value="site_visit"[^>]*data-requires-phone="false"[^>]*'
        r'data-requires-site-address="true"',
        page,
        re.DOTALL,
    )
    assert re.search(r'value="phone_call"[^>]*data-requires-phone="true"', page, re.DOTALL)
    assert "Needed for: Site visit." in page
    assert "Needed for: Phone call." in page
    assert '<option value="medium" selected>' in page
    assert 'name="attachments"' in page
    assert "Up to 3 files, 4 KB each: PNG, JPEG, PDF or plain text." in page


async def test_request_form_sets_csrf_cookie(client: httpx.AsyncClient) -> None:
    token = await open_form(client)

    assert client.cookies.get("opsdesk_portal_csrf") == token
    again = await open_form(client)
    assert again == token


# The whole flow


async def test_portal_flow_from_form_to_reply(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    response = await post_request(client)

    assert response.status_code == 303, response.text
    location = response.headers["location"]
    token = token_of(location)
    ticket = await only_ticket(db)
    assert ticket.channel == "portal"
    assert ticket.requester_email == "ada@example.com"
    assert ticket.priority == "high"

    sent = await client.get(location)
    assert sent.status_code == 200
    assert element_text(sent.text, "reference") == "SR-000001"
    assert element_text(sent.text, "first-response-due") == "Tue 10 Mar 2026 11:00 WAT"
    assert "within 1 hour of working time" in sent.text
    assert f'value="http://testserver/status/{token}"' in sent.text
    assert sent.headers["cache-control"] == "no-store"

    status = await client.get(f"/status/{token}")
    assert status.status_code == 200
    assert element_text(status.text, "status") == "New"
    assert FORM["description"] in status.text
    assert element_text(status.text, "first-response-due") == "Tue 10 Mar 2026 11:00 WAT"

    await _set_status(db, ctx, "SR-000001", TicketStatus.WAITING_ON_CUSTOMER)
    waiting = await client.get(f"/status/{token}")
    assert element_text(waiting.text, "status") == "Waiting on customer"
    assert "We need something from you" in waiting.text

    reply = await client.post(
        f"/status/{token}/reply",
        data={
            "body": "The serial number is INV-2291.",
            "csrf_token": hidden_value(waiting.text, "csrf_token"),
        },
    )
    assert reply.status_code == 303, reply.text
    assert reply.headers["location"] == f"/status/{token}?replied=1#conversation"
    ticket = await only_ticket(db)
    assert ticket.status == TicketStatus.OPEN

    after = await client.get(reply.headers["location"])
    assert "Your reply was sent to the team." in after.text
    assert "The serial number is INV-2291." in after.text
    assert element_text(after.text, "status") == "Open"


async def test_reply_keeps_status_when_not_waiting(client: httpx.AsyncClient, db: Database) -> None:
    token = await create_request(client)
    page = await client.get(f"/status/{token}")

    reply = await client.post(
        f"/status/{token}/reply",
        data={"body": "One more detail.", "csrf_token": hidden_value(page.text, "csrf_token")},
    )

    assert reply.status_code == 303
    ticket = await only_ticket(db)
    assert ticket.status == TicketStatus.NEW


# Validation


async def test_invalid_form_keeps_values_and_names_fields(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await post_request(client, email="not-an-address", subject="   ")

    assert response.status_code == 422
    page = response.text
    assert field_error(page, "email") == "Enter a valid e-mail address, such as name@example.com."
    assert field_error(page, "subject") == "Enter a short subject."
    assert field_error(page, "name") is None
    assert 'value="Ada Obi"' in page
    assert 'value="not-an-address"' in page
    assert FORM["description"] in page
    assert re.search(r'value="phone_call"[^>]*checked', page, re.DOTALL)
    assert '<option value="solar_repair" selected>' in page
    assert '<a href="#field-email">E-mail: Enter a valid e-mail address' in page
    assert 'id="field-email"' in page
    assert await ticket_count(db) == 0


async def test_site_visit_requires_site_address(client: httpx.AsyncClient, db: Database) -> None:
    response = await post_request(client, contact_method="site_visit", site_address="")

    assert response.status_code == 422
    assert (
        field_error(response.text, "site_address")
        == "A site address is required for site visit requests."
    )
    assert await ticket_count(db) == 0

    created = await post_request(
        client, contact_method="site_visit", site_address="12 Admiralty Way, Lekki, Lagos"
    )
    assert created.status_code == 303, created.text
    ticket = await only_ticket(db)
    assert ticket.site_address == "12 Admiralty Way, Lekki, Lagos"
    assert ticket.contact_method == "site_visit"


async def test_phone_call_requires_phone(client: httpx.AsyncClient, db: Database) -> None:
    response = await post_request(client, contact_method="phone_call", phone="")

    assert response.status_code == 422
    assert field_error(response.text, "phone") == (
        "A phone number is required for phone call requests."
    )

    by_email = await post_request(client, contact_method="email", phone="")
    assert by_email.status_code == 303, by_email.text
    ticket = await only_ticket(db)
    assert ticket.requester_phone is None


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("service_type", "pool_cleaning", "Choose one of the listed services."),
        ("service_type", "", "Choose a service."),
        ("contact_method", "", "Choose how we should help."),
        ("priority", "critical", "Choose one of the listed priorities."),
        ("phone", "call me", "Use digits, spaces and + - ( ) . only, such as +234 803 555 0101."),
        ("name", "", "Enter your name."),
        ("description", "x" * 10_001, "Use at most 10000 characters."),
        ("subject", "bell\x07", "Contains the control character U+0007; remove it."),
    ],
)
async def test_invalid_field_message(
    client: httpx.AsyncClient, db: Database, field: str, value: str, message: str
) -> None:
    response = await post_request(client, **{field: value})

    assert response.status_code == 422
    assert field_error(response.text, field) == message
    assert await ticket_count(db) == 0


# CSRF


async def test_request_without_csrf_token_rejected(client: httpx.AsyncClient, db: Database) -> None:
    await open_form(client)

    response = await post_request(client, csrf="")

    assert response.status_code == 403
    assert "This form expired" in element_text(response.text, "form-alert")
    assert 'value="Ada Obi"' in response.text
    assert await ticket_count(db) == 0


async def test_request_without_csrf_cookie_rejected(
    client: httpx.AsyncClient, db: Database
) -> None:
    token = await open_form(client)
    client.cookies.clear()

    response = await post_request(client, csrf=token)

    assert response.status_code == 403
    assert await ticket_count(db) == 0


async def test_request_with_other_csrf_token_rejected(
    client: httpx.AsyncClient, db: Database
) -> None:
    await open_form(client)

    response = await post_request(client, csrf="A" * 43)

    assert response.status_code == 403
    assert await ticket_count(db) == 0


async def test_reply_without_csrf_token_rejected(client: httpx.AsyncClient, db: Database) -> None:
    token = await create_request(client)

    response = await client.post(f"/status/{token}/reply", data={"body": "Hello?"})

    assert response.status_code == 403
    assert "This form expired" in element_text(response.text, "form-alert")
    async with db.read() as session:
        messages = (await session.execute(TicketMessage.__table__.select())).all()
    assert len(messages) == 1


# Status page


async def test_status_page_hides_notes_and_staff_emails(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    token = await create_request(client)
    agent = await make_user("agent", email="kemi.agent@example.com")
    note = await client.post(
        "/api/v1/tickets/SR-000001/notes",
        json={"body": "Customer is on the old tariff."},
        headers=agent.headers,
    )
    assert note.status_code == 201
    reply = await client.post(
        "/api/v1/tickets/SR-000001/replies",
        json={"body": "A technician will call you at 2 pm."},
        headers=agent.headers,
    )
    assert reply.status_code == 201

    page = (await client.get(f"/status/{token}")).text

    assert "A technician will call you at 2 pm." in page
    assert "Customer is on the old tariff." not in page
    assert "kemi.agent@example.com" not in page
    assert page.count('data-testid="message"') == 2
    assert element_text(page, "status") == "Open"


async def test_status_page_renders_script_as_text(client: httpx.AsyncClient) -> None:
    payload = "<script>alert('x')</script>"
    token = await create_request(client, subject=f"Panel {payload}", description=payload)
    page = await client.get(f"/status/{token}")
    await client.post(
        f"/status/{token}/reply",
        data={
            "body": f"<img src=x onerror=alert(1)>{payload}",
            "csrf_token": hidden_value(page.text, "csrf_token"),
        },
    )

    text = (await client.get(f"/status/{token}")).text

    assert "<script>alert" not in text
    assert "<img src=x" not in text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in text
    assert "&lt;img src=x onerror=alert(1)&gt;" in text


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (TicketStatus.OPEN, "We are working on your request"),
        (TicketStatus.PENDING_THIRD_PARTY, "We are waiting for a supplier"),
        (TicketStatus.RESOLVED, "We believe this is done"),
        (TicketStatus.CLOSED, "This request is closed and takes no more replies"),
    ],
)
async def test_status_page_says_what_happens_next(
    client: httpx.AsyncClient, db: Database, ctx: Context, status: str, words: str
) -> None:
    token = await create_request(client)
    await _set_status(db, ctx, "SR-000001", status)

    page = (await client.get(f"/status/{token}")).text

    assert words in element_text(page, "next-step")
    assert ('id="reply-form"' in page) == (status != TicketStatus.CLOSED)


async def test_reply_to_closed_request_rejected(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    token = await create_request(client)
    page = await client.get(f"/status/{token}")
    await _set_status(db, ctx, "SR-000001", TicketStatus.CLOSED)

    response = await client.post(
        f"/status/{token}/reply",
        data={"body": "Still broken", "csrf_token": hidden_value(page.text, "csrf_token")},
    )

    assert response.status_code == 409
    assert "This request is closed" in element_text(response.text, "form-alert")


async def test_empty_reply_named_next_to_field(client: httpx.AsyncClient) -> None:
    token = await create_request(client)
    page = await client.get(f"/status/{token}")

    response = await client.post(
        f"/status/{token}/reply",
        data={"body": "  ", "csrf_token": hidden_value(page.text, "csrf_token")},
    )

    assert response.status_code == 422
    assert field_error(response.text, "body") == "Write your reply."


async def test_unknown_status_token_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get("/status/not-a-real-token")

    assert response.status_code == 404
    assert "no request matches this status link" in response.text.lower()
    sent = await client.get("/request/sent/not-a-real-token")
    assert sent.status_code == 404


async def test_status_page_not_cached(client: httpx.AsyncClient) -> None:
    token = await create_request(client)

    response = await client.get(f"/status/{token}")

    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-robots-tag"] == "noindex"
