"""Bad intake requests get a clear 4xx in the shared error shape and write nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from api_support import (
    MISSING,
    REQUEST,
    MakeUser,
    error_fields,
    error_of,
    request_body,
    row_counts,
    submit,
)

from opsdesk.db import Database
from opsdesk.settings import Settings

INTAKE = "/api/v1/requests"
SITE = "12 Adeola Odeku Street, Victoria Island, Lagos"
REQUIRED = ["name", "email", "service_type", "contact_method", "subject", "description"]


async def post_rejected(
    client: httpx.AsyncClient, db: Database, status: int, **send: Any
) -> httpx.Response:
    """Post to intake, check the status and that no table gained or lost a row."""
    before = await row_counts(db)

    response = await client.post(INTAKE, **send)

    assert response.status_code == status, response.text
    assert await row_counts(db) == before
    return response


# Fields: missing, too long, wrong type


@pytest.mark.parametrize("field", REQUIRED)
async def test_missing_required_field_rejected(
    client: httpx.AsyncClient, db: Database, field: str
) -> None:
    response = await post_rejected(client, db, 422, json=request_body(**{field: MISSING}))

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert error["fields"] == [{"field": field, "message": "field required"}]
    assert field in error["message"]


@pytest.mark.parametrize("field", REQUIRED)
async def test_null_required_field_rejected(
    client: httpx.AsyncClient, db: Database, field: str
) -> None:
    response = await post_rejected(client, db, 422, json=request_body(**{field: None}))

    assert error_fields(response) == [field]


@pytest.mark.parametrize(
    ("field", "limit"),
    [
        ("name", 200),
        ("subject", 200),
        ("description", 10_000),
        ("site_address", 500),
        ("phone", 40),
        ("service_type", 64),
        ("contact_method", 64),
        ("priority", 64),
    ],
)
async def test_too_long_field_rejected(
    client: httpx.AsyncClient, db: Database, field: str, limit: int
) -> None:
    # Digits pass the phone pattern, so only the length can reject them.
    value = "7" * (limit + 1) if field == "phone" else "x" * (limit + 1)
    body = request_body(**({"site_address": SITE} | {field: value}))

    response = await post_rejected(client, db, 422, json=body)

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert error["fields"] == [{"field": field, "message": f"too long: at most {limit} characters"}]


@pytest.mark.parametrize(
    ("field", "limit"),
    [("name", 200), ("subject", 200), ("description", 10_000), ("site_address", 500)],
)
async def test_field_at_limit_accepted(client: httpx.AsyncClient, field: str, limit: int) -> None:
    created = await submit(client, **({"site_address": SITE} | {field: "x" * limit}))

    assert created["reference"] == "SR-000001"


async def test_too_long_email_rejected(client: httpx.AsyncClient, db: Database) -> None:
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 5) + ".com"
    assert len(email) > 320

    response = await post_rejected(client, db, 422, json=request_body(email=email))

    assert error_fields(response) == ["email"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 123),
        ("name", True),
        ("subject", ["Inverter", "beeps"]),
        ("description", {"text": "broken"}),
        ("email", 5),
        ("phone", 8035550101),
        ("service_type", 1),
        ("contact_method", False),
        ("priority", 3),
        ("site_address", []),
    ],
)
async def test_wrong_type_field_rejected(
    client: httpx.AsyncClient, db: Database, field: str, value: object
) -> None:
    response = await post_rejected(client, db, 422, json=request_body(**{field: value}))

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert [entry["field"] for entry in error["fields"]] == [field]
    assert error["fields"][0]["message"] == "must be a string"


@pytest.mark.parametrize("body", [[REQUEST], "a request", 42, None])
async def test_body_not_an_object_rejected(
    client: httpx.AsyncClient, db: Database, body: object
) -> None:
    response = await post_rejected(client, db, 422, json=body)

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert error["message"] == "the request body must be a JSON object with the documented fields"
    assert "fields" not in error


@pytest.mark.parametrize("field", ["name", "subject", "description"])
async def test_blank_text_field_rejected(
    client: httpx.AsyncClient, db: Database, field: str
) -> None:
    response = await post_rejected(client, db, 422, json=request_body(**{field: "   "}))

    assert error_fields(response) == [field]


@pytest.mark.parametrize("field", ["name", "subject", "description", "site_address"])
async def test_nul_character_rejected(client: httpx.AsyncClient, db: Database, field: str) -> None:
    # PostgreSQL cannot store U+0000 in text columns, so the API must reject it up front
    # instead of failing at commit.
    body = request_body(**({"site_address": SITE} | {field: "Inverter\u0000beeps"}))

    response = await post_rejected(client, db, 422, json=body)

    error = error_of(response)
    assert error["fields"] == [
        {"field": field, "message": "contains the control character U+0000; remove it"}
    ]


async def test_line_breaks_in_description_accepted(
    client: httpx.AsyncClient, make_user: MakeUser
) -> None:
    text = "Inverter beeps.\r\nShuts down hourly.\n\tSince Monday."
    created = await submit(client, description=text)
    agent = await make_user("agent")

    response = await client.get(f"/api/v1/tickets/{created['reference']}", headers=agent.headers)

    assert response.json()["description"] == text


# Values the workspace does not know


@pytest.mark.parametrize(
    ("field", "value", "known"),
    [
        ("service_type", "plumbing", "solar_repair"),
        ("contact_method", "carrier_pigeon", "site_visit"),
        ("priority", "critical", "urgent"),
    ],
)
async def test_unknown_workspace_value_rejected(
    client: httpx.AsyncClient, db: Database, field: str, value: str, known: str
) -> None:
    response = await post_rejected(client, db, 422, json=request_body(**{field: value}))

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert [entry["field"] for entry in error["fields"]] == [field]
    assert value in error["fields"][0]["message"]
    assert known in error["fields"][0]["message"]


async def test_every_unknown_value_reported_at_once(
    client: httpx.AsyncClient, db: Database
) -> None:
    body = request_body(service_type="plumbing", contact_method="fax", priority="critical")

    response = await post_rejected(client, db, 422, json=body)

    assert error_fields(response) == ["service_type", "contact_method", "priority"]


async def test_shape_and_workspace_errors_reported_together(
    client: httpx.AsyncClient, db: Database
) -> None:
    """One response names a missing field and an unknown workspace value alike."""
    body = request_body(
        email=MISSING,
        priority="extreme",
        contact_method="site_visit",
        site_address=MISSING,
        service_type=7,
    )

    response = await post_rejected(client, db, 422, json=body)

    fields = {entry["field"]: entry["message"] for entry in error_of(response)["fields"]}
    assert set(fields) == {"email", "service_type", "priority", "site_address"}
    assert "extreme" in fields["priority"]
    assert fields["site_address"] == "a site address is required for site visit requests"
    # The wrong type is reported once, as a type error, not also as an unknown key.
    assert "unknown" not in fields["service_type"]


async def test_site_visit_without_address_rejected(client: httpx.AsyncClient, db: Database) -> None:
    body = request_body(contact_method="site_visit", site_address=MISSING)

    response = await post_rejected(client, db, 422, json=body)

    error = error_of(response)
    assert error["fields"] == [
        {"field": "site_address", "message": "a site address is required for site visit requests"}
    ]


async def test_phone_call_without_phone_rejected(client: httpx.AsyncClient, db: Database) -> None:
    body = request_body(contact_method="phone_call", phone=MISSING)

    response = await post_rejected(client, db, 422, json=body)

    error = error_of(response)
    assert error["fields"] == [
        {"field": "phone", "message": "a phone number is required for phone call requests"}
    ]


async def test_email_request_without_phone_accepted(client: httpx.AsyncClient) -> None:
    created = await submit(client, contact_method="email", phone=MISSING)

    assert created["reference"] == "SR-000001"


@pytest.mark.parametrize("phone", ["call me", "+234-803-555-O101", "1234"])
async def test_invalid_phone_rejected(client: httpx.AsyncClient, db: Database, phone: str) -> None:
    response = await post_rejected(client, db, 422, json=request_body(phone=phone))

    assert error_fields(response) == ["phone"]


@pytest.mark.parametrize(
    "email", ["not-an-email", "ada@", "@example.com", "ada@@example.com", "ada example@x.com"]
)
async def test_invalid_email_rejected(client: httpx.AsyncClient, db: Database, email: str) -> None:
    response = await post_rejected(client, db, 422, json=request_body(email=email))

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert [entry["field"] for entry in error["fields"]] == ["email"]


async def test_unknown_extra_field_rejected(client: httpx.AsyncClient, db: Database) -> None:
    response = await post_rejected(client, db, 422, json=request_body(nickname="Ada"))

    error = error_of(response)
    assert error["fields"] == [{"field": "nickname", "message": "unknown field; remove it"}]


# Body size, encoding and content type


def oversized_body(settings: Settings) -> bytes:
    body = json.dumps(request_body(description="x" * settings.max_request_bytes)).encode()
    assert len(body) > settings.max_request_bytes
    return body


async def test_oversized_body_rejected(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    content = oversized_body(settings)

    response = await post_rejected(
        client, db, 413, content=content, headers={"Content-Type": "application/json"}
    )

    assert response.request.headers["Content-Length"] == str(len(content))
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert str(settings.max_request_bytes) in error["message"]


async def test_oversized_chunked_body_rejected(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    content = oversized_body(settings)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 4096):
            yield content[start : start + 4096]

    response = await post_rejected(
        client, db, 413, content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert "Content-Length" not in response.request.headers
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert error_of(response)["code"] == "payload_too_large"


async def test_small_chunked_body_accepted(client: httpx.AsyncClient) -> None:
    content = json.dumps(REQUEST).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(content), 64):
            yield content[start : start + 64]

    response = await client.post(
        INTAKE, content=chunks(), headers={"Content-Type": "application/json"}
    )

    assert response.status_code == 201, response.text


async def test_body_over_understated_length_rejected(
    client: httpx.AsyncClient, db: Database, settings: Settings
) -> None:
    # The Content-Length header claims a small body; the bytes that arrive are counted.
    content = oversized_body(settings)

    response = await post_rejected(
        client,
        db,
        413,
        content=content,
        headers={"Content-Type": "application/json", "Content-Length": "100"},
    )

    assert error_of(response)["code"] == "payload_too_large"


@pytest.mark.parametrize(
    "content",
    [b"{", b'{"name": "Ada",}', b"name=Ada", b"\xff\xfe{}", b'{"name": "Ada"} trailing'],
    ids=["truncated", "trailing-comma", "not-json", "not-utf8", "trailing-text"],
)
async def test_invalid_json_rejected(
    client: httpx.AsyncClient, db: Database, content: bytes
) -> None:
    response = await post_rejected(
        client, db, 400, content=content, headers={"Content-Type": "application/json"}
    )

    error = error_of(response)
    assert error["code"] == "invalid_json"
    assert error["message"].startswith("request body is not valid JSON")


async def test_deeply_nested_json_rejected(client: httpx.AsyncClient, db: Database) -> None:
    # Small enough for the size limit, too deep for the JSON parser.
    content = b'{"name": ' + b"[" * 30_000 + b"]" * 30_000 + b"}"

    response = await post_rejected(
        client, db, 400, content=content, headers={"Content-Type": "application/json"}
    )

    assert error_of(response)["message"]


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"],
)
async def test_wrong_content_type_rejected(
    client: httpx.AsyncClient, db: Database, content_type: str
) -> None:
    content = json.dumps(REQUEST).encode()

    response = await post_rejected(
        client, db, 415, content=content, headers={"Content-Type": content_type}
    )

    error = error_of(response)
    assert error["code"] == "unsupported_media_type"
    assert content_type.split(";")[0] in error["message"]
    assert "application/json" in error["message"]


async def test_form_encoded_request_rejected(client: httpx.AsyncClient, db: Database) -> None:
    response = await post_rejected(client, db, 415, data=REQUEST)

    assert error_of(response)["code"] == "unsupported_media_type"


async def test_body_without_content_type_rejected(client: httpx.AsyncClient, db: Database) -> None:
    response = await post_rejected(client, db, 415, content=json.dumps(REQUEST).encode())

    assert response.request.headers.get("Content-Type") is None
    assert error_of(response)["code"] == "unsupported_media_type"


async def test_json_with_charset_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        INTAKE,
        content=json.dumps(REQUEST).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )

    assert response.status_code == 201, response.text


async def test_empty_body_rejected(client: httpx.AsyncClient, db: Database) -> None:
    response = await post_rejected(
        client, db, 422, content=b"", headers={"Content-Type": "application/json"}
    )

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert error["message"] == "the request body must be a JSON object with the documented fields"
    assert "fields" not in error


# Idempotency-Key


async def test_idempotent_retry_replays_reference(client: httpx.AsyncClient, db: Database) -> None:
    headers = {"Idempotency-Key": "4f1c9a2e-portal-retry"}
    first = await client.post(INTAKE, json=REQUEST, headers=headers)
    after_first = await row_counts(db)

    second = await client.post(INTAKE, json=REQUEST, headers=headers)

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert second.json() == first.json()
    assert second.json()["reference"] == "SR-000001"
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert await row_counts(db) == after_first
    assert after_first["tickets"] == 1


async def test_idempotent_replay_ignores_stripped_whitespace(
    client: httpx.AsyncClient, db: Database
) -> None:
    # Text fields are stripped before they are stored, so the stored request is the same.
    headers = {"Idempotency-Key": "key-strip"}
    first = await client.post(INTAKE, json=REQUEST, headers=headers)

    second = await client.post(
        INTAKE, json=request_body(name=f"  {REQUEST['name']} "), headers=headers
    )

    assert first.status_code == 201, first.text
    assert second.status_code == 201, second.text
    assert second.json()["reference"] == first.json()["reference"]
    assert second.headers["Idempotent-Replayed"] == "true"


async def test_reused_idempotency_key_other_body_conflicts(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = {"Idempotency-Key": "4f1c9a2e-portal-retry"}
    first = await client.post(INTAKE, json=REQUEST, headers=headers)
    assert first.status_code == 201, first.text

    response = await post_rejected(
        client, db, 409, json=request_body(subject="Another problem"), headers=headers
    )

    error = error_of(response)
    assert error["code"] == "conflict"
    assert "4f1c9a2e-portal-retry" in error["message"]
    assert "Idempotent-Replayed" not in response.headers


async def test_concurrent_same_key_creates_one_ticket(
    client: httpx.AsyncClient, db: Database
) -> None:
    headers = {"Idempotency-Key": "double-click"}

    responses = await asyncio.gather(
        *(client.post(INTAKE, json=REQUEST, headers=headers) for _ in range(3))
    )

    for response in responses:
        assert response.status_code == 201, response.text
    # On PostgreSQL the losers have already drawn ticket ids from the sequence, so the
    # surviving reference is not always SR-000001; all three must name the same one.
    assert len({response.json()["reference"] for response in responses}) == 1
    replayed = [response.headers.get("Idempotent-Replayed") for response in responses]
    assert sorted(replayed, key=str) == [None, "true", "true"]
    counts = await row_counts(db)
    assert counts["tickets"] == 1
    assert counts["idempotency_keys"] == 1


async def test_different_idempotency_keys_create_two_tickets(client: httpx.AsyncClient) -> None:
    first = await client.post(INTAKE, json=REQUEST, headers={"Idempotency-Key": "key-a"})
    second = await client.post(INTAKE, json=REQUEST, headers={"Idempotency-Key": "key-b"})

    assert first.json()["reference"] == "SR-000001"
    assert second.json()["reference"] == "SR-000002"


async def test_rejected_request_leaves_key_unused(client: httpx.AsyncClient, db: Database) -> None:
    headers = {"Idempotency-Key": "key-after-fix"}
    await post_rejected(client, db, 422, json=request_body(priority="critical"), headers=headers)

    response = await client.post(INTAKE, json=REQUEST, headers=headers)

    assert response.status_code == 201, response.text
    assert "Idempotent-Replayed" not in response.headers


@pytest.mark.parametrize("key", ["k" * 256, " ", "tab\there"], ids=["too-long", "blank", "tab"])
async def test_invalid_idempotency_key_rejected(
    client: httpx.AsyncClient, db: Database, key: str
) -> None:
    response = await post_rejected(client, db, 422, json=REQUEST, headers={"Idempotency-Key": key})

    error = error_of(response)
    assert error["code"] == "invalid_input"
    assert error_fields(response) == ["Idempotency-Key"]
