"""Attachments on portal requests and replies: type checks by content, limits and downloads.

These tests limit files to 4 KB (TEST_ATTACHMENT_BYTES) and keep the default of 3 files.
"""

from __future__ import annotations

import httpx
import pytest
from portal_support import (
    EXE,
    HTML,
    JPEG,
    PDF,
    PNG,
    TEST_ATTACHMENT_BYTES,
    TEXT,
    OpenApp,
    client_for,
    create_request,
    field_error,
    hidden_value,
    post_request,
    stored_attachments,
    ticket_count,
)
from sqlalchemy import func, select

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.portal.attachments import clean_filename, detect_type
from opsdesk.tickets import service as tickets
from opsdesk.tickets.models import Attachment, TicketMessage

# Type detection


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (PDF, "application/pdf"),
        (TEXT, "text/plain"),
        ("Grüße aus Lagos\r\n\tZeile 2\f".encode(), "text/plain"),
        (HTML, "text/plain"),
        (EXE, None),
        (b"GIF89a" + bytes(20), None),
        ("Latin-1 caf\xe9".encode("latin-1"), None),
        (b"text with a bell \x07", None),
    ],
    ids=["png", "jpeg", "pdf", "text", "utf8-text", "html", "exe", "gif", "latin1", "bell"],
)
def test_detect_type(content: bytes, expected: str | None) -> None:
    assert detect_type(content) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("photo.png", "photo.png"),
        ("C:\\Users\\ada\\meter.jpg", "meter.jpg"),
        ("../../etc/passwd", "passwd"),
        ("bad\x00name\n.txt", "badname.txt"),
        (".hidden", "hidden"),
        ("", "attachment"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_clean_filename(name: str, expected: str) -> None:
    assert clean_filename(name) == expected


# Accepted files


async def test_accepted_files_stored_and_listed(client: httpx.AsyncClient, db: Database) -> None:
    files = [
        ("attachments", ("inverter.png", PNG, "image/png")),
        ("attachments", ("meter.jpg", JPEG, "image/jpeg")),
        ("attachments", ("invoice.pdf", PDF, "application/pdf")),
    ]

    token = await create_request(client, files=files)

    stored = await stored_attachments(db)
    assert [(item.filename, item.content_type) for item in stored] == [
        ("inverter.png", "image/png"),
        ("meter.jpg", "image/jpeg"),
        ("invoice.pdf", "application/pdf"),
    ]
    assert [item.content for item in stored] == [PNG, JPEG, PDF]
    assert [item.size_bytes for item in stored] == [len(PNG), len(JPEG), len(PDF)]
    async with db.read() as session:
        first_message = await session.scalar(select(func.min(TicketMessage.id)))
    assert {item.message_id for item in stored} == {first_message}

    page = (await client.get(f"/status/{token}")).text
    for item in stored:
        assert f'href="/status/{token}/attachments/{item.id}"' in page
        assert item.filename in page


async def test_text_file_accepted(client: httpx.AsyncClient, db: Database) -> None:
    await create_request(client, files=[("attachments", ("notes.txt", TEXT, "text/plain"))])

    stored = await stored_attachments(db)
    assert [(item.filename, item.content_type) for item in stored] == [("notes.txt", "text/plain")]


async def test_generic_declared_type_uses_content(client: httpx.AsyncClient, db: Database) -> None:
    files = [("attachments", ("scan", PDF, "application/octet-stream"))]

    await create_request(client, files=files)

    stored = await stored_attachments(db)
    assert [(item.filename, item.content_type) for item in stored] == [("scan", "application/pdf")]


async def test_file_of_exactly_the_limit_accepted(client: httpx.AsyncClient, db: Database) -> None:
    content = PNG + bytes(TEST_ATTACHMENT_BYTES - len(PNG))

    await create_request(client, files=[("attachments", ("big.png", content, "image/png"))])

    stored = await stored_attachments(db)
    assert [item.size_bytes for item in stored] == [TEST_ATTACHMENT_BYTES]


# Rejected files


@pytest.mark.parametrize(
    ("filename", "content", "declared", "message"),
    [
        (
            "photo.png",
            HTML,
            "image/png",
            "photo.png is named as a PNG image but its content is not one; "
            "attach a PNG, JPEG, PDF or plain text file.",
        ),
        (
            "invoice.pdf",
            EXE,
            "application/pdf",
            "invoice.pdf is named as a PDF document but its content is not one; "
            "attach a PNG, JPEG, PDF or plain text file.",
        ),
        (
            "setup.exe",
            EXE,
            "application/octet-stream",
            "setup.exe is not a PNG, JPEG, PDF or plain text file; attach one of those.",
        ),
        (
            "page.html",
            HTML,
            "text/html",
            "page.html is of type text/html, which is not accepted; "
            "attach a PNG, JPEG, PDF or plain text file.",
        ),
        ("empty.txt", b"", "text/plain", "empty.txt is empty; choose the file again."),
    ],
    ids=["html-as-png", "exe-as-pdf", "exe-generic", "html-declared", "empty"],
)
async def test_rejected_file_named_next_to_field(
    client: httpx.AsyncClient,
    db: Database,
    filename: str,
    content: bytes,
    declared: str,
    message: str,
) -> None:
    files = [
        ("attachments", ("ok.png", PNG, "image/png")),
        ("attachments", (filename, content, declared)),
    ]

    response = await post_request(client, files=files)

    assert response.status_code == 422
    assert field_error(response.text, "attachments") == message
    assert 'value="Ada Obi"' in response.text
    assert await ticket_count(db) == 0
    assert await stored_attachments(db) == []


async def test_too_large_file_rejected(client: httpx.AsyncClient, db: Database) -> None:
    content = PNG + bytes(TEST_ATTACHMENT_BYTES + 1 - len(PNG))

    response = await post_request(
        client, files=[("attachments", ("huge.png", content, "image/png"))]
    )

    assert response.status_code == 422
    assert field_error(response.text, "attachments") == (
        "huge.png is larger than 4 KB; attach a smaller file."
    )
    assert await ticket_count(db) == 0


async def test_too_many_files_rejected(client: httpx.AsyncClient, db: Database) -> None:
    files = [("attachments", (f"photo{index}.png", PNG, "image/png")) for index in range(4)]

    response = await post_request(client, files=files)

    assert response.status_code == 422
    assert field_error(response.text, "attachments") == (
        "You attached 4 files; attach at most 3 and send again."
    )
    assert await ticket_count(db) == 0


async def test_body_over_form_limit_rejected(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    # Three files of the limit plus the 256 KB allowance for text fields fit; this does not.
    filler = "x" * (3 * TEST_ATTACHMENT_BYTES + 300 * 1024)

    response = await post_request(client, description=filler)

    assert response.status_code == 413
    assert "larger than" in response.text
    assert "Attach at most 3 files of up to 4 KB each" in response.text
    assert await ticket_count(db) == 0


# Downloads


async def test_download_with_right_token(client: httpx.AsyncClient, db: Database) -> None:
    token = await create_request(
        client, files=[("attachments", ("Zählerstand 1.png", PNG, "image/png"))]
    )
    (stored,) = await stored_attachments(db)

    response = await client.get(f"/status/{token}/attachments/{stored.id}")

    assert response.status_code == 200
    assert response.content == PNG
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-disposition"] == (
        "attachment; filename=\"Z_hlerstand 1.png\"; filename*=UTF-8''Z%C3%A4hlerstand%201.png"
    )
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert response.headers["cache-control"] == "no-store"


async def test_download_needs_the_ticket_token(client: httpx.AsyncClient, db: Database) -> None:
    first = await create_request(client, files=[("attachments", ("first.png", PNG, "image/png"))])
    second = await create_request(client)
    (stored,) = await stored_attachments(db)

    wrong_ticket = await client.get(f"/status/{second}/attachments/{stored.id}")
    unknown_token = await client.get(f"/status/{'x' * 32}/attachments/{stored.id}")
    unknown_id = await client.get(f"/status/{first}/attachments/{stored.id + 100}")

    assert wrong_ticket.status_code == 404
    assert PNG not in wrong_ticket.content
    assert unknown_token.status_code == 404
    assert unknown_id.status_code == 404


async def test_attachment_on_internal_note_hidden(
    client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    token = await create_request(client)
    async with db.transaction() as session:
        ticket = await tickets.access_ticket(session, ctx, "SR-000001", lock=True)
        note = await tickets.add_agent_reply(
            session, ctx, ticket, author=None, body="Supplier quote", public=False
        )
        await session.flush()
        session.add(
            Attachment(
                ticket_id=ticket.id,
                message_id=note.id,
                filename="quote.pdf",
                content_type="application/pdf",
                size_bytes=len(PDF),
                content=PDF,
                created_at=ctx.clock.now(),
            )
        )
    (stored,) = await stored_attachments(db)

    page = await client.get(f"/status/{token}")
    download = await client.get(f"/status/{token}/attachments/{stored.id}")

    assert "quote.pdf" not in page.text
    assert download.status_code == 404


# Replies


async def test_reply_with_attachment(client: httpx.AsyncClient, db: Database) -> None:
    token = await create_request(client)
    page = await client.get(f"/status/{token}")

    response = await client.post(
        f"/status/{token}/reply",
        data={"body": "Photo of the display", "csrf_token": hidden_value(page.text, "csrf_token")},
        files=[("attachments", ("display.jpg", JPEG, "image/jpeg"))],
    )

    assert response.status_code == 303, response.text
    (stored,) = await stored_attachments(db)
    async with db.read() as session:
        message = await session.get(TicketMessage, stored.message_id)
    assert message is not None
    assert message.body == "Photo of the display"
    assert message.author_kind == "customer"
    after = await client.get(f"/status/{token}")
    assert "display.jpg" in after.text


async def test_reply_with_rejected_file_keeps_text(client: httpx.AsyncClient, db: Database) -> None:
    token = await create_request(client)
    page = await client.get(f"/status/{token}")

    response = await client.post(
        f"/status/{token}/reply",
        data={"body": "See attached", "csrf_token": hidden_value(page.text, "csrf_token")},
        files=[("attachments", ("display.jpg", EXE, "image/jpeg"))],
    )

    assert response.status_code == 422
    message = field_error(response.text, "attachments")
    assert message is not None
    assert message.startswith("display.jpg is named as a JPEG image")
    assert ">See attached</textarea>" in response.text
    async with db.read() as session:
        count = len((await session.execute(select(TicketMessage.id))).all())
    assert count == 1


async def test_attachments_off_when_limit_zero(open_app: OpenApp, db: Database) -> None:
    async with open_app(attachment_max_files=0) as app, client_for(app) as client:
        form = await client.get("/request")
        assert 'name="attachments"' not in form.text

        response = await post_request(
            client, files=[("attachments", ("photo.png", PNG, "image/png"))]
        )

    assert response.status_code == 422
    assert field_error(response.text, "attachments") == "This form does not take attachments."
    assert await ticket_count(db) == 0
