"""The embeddable widget: its script, the framed form, framing rules and CORS on the intake API.

examples/technical-services.yaml allows http://127.0.0.1:8001 and http://localhost:8001.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from portal_support import FORM, create_request, element_text, only_ticket, ticket_count, token_of

from opsdesk.db import Database

ALLOWED = "http://localhost:8001"
FOREIGN = "https://attacker.example"
OWN = "http://testserver"
WIDGET_ANCESTORS = "frame-ancestors 'self' http://127.0.0.1:8001 http://localhost:8001"

API_REQUEST = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "service_type": "solar_repair",
    "contact_method": "phone_call",
    "subject": "Inverter beeps",
    "description": "It shuts down every hour.",
}


def _cors_headers(response: httpx.Response) -> dict[str, str]:
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


async def _post_widget(
    client: httpx.AsyncClient, *, origin: str | None, query: str = "", **changes: str
) -> httpx.Response:
    headers = {"Origin": origin} if origin is not None else {}
    return await client.post(
        f"/widget/form{query}",
        data=FORM | changes,
        files=[("attachments", ("", b"", "application/octet-stream"))],
        headers=headers,
    )


# widget.js


async def test_widget_script_served_as_javascript(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget.js")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=3600"
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"
    assert response.headers["etag"].startswith('"')
    script = response.text
    for expected in (
        "document.currentScript",
        "dataset.serviceType",
        "dataset.label",
        "dataset.position",
        "attachShadow",
        '"/widget/form?"',
        '"Escape"',
        "event.origin !== server",
    ):
        assert expected in script, expected


async def test_widget_script_revalidates_with_etag(client: httpx.AsyncClient) -> None:
    first = await client.get("/widget.js")

    again = await client.get("/widget.js", headers={"If-None-Match": first.headers["etag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]


# Framing


async def test_widget_form_framable_by_allowed_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/widget/form?service_type=cctv_repair")

    assert response.status_code == 200
    assert WIDGET_ANCESTORS in response.headers["content-security-policy"]
    assert "x-frame-options" not in response.headers
    assert '<option value="cctv_repair" selected>' in response.text
    assert 'name="csrf_token"' not in response.text


@pytest.mark.parametrize("path", ["/", "/request", "/widget.js", "/api/v1/workspace"])
async def test_other_pages_not_framable(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)

    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


async def test_status_page_not_framable(client: httpx.AsyncClient) -> None:
    token = await create_request(client)

    response = await client.get(f"/status/{token}")

    assert response.headers["x-frame-options"] == "DENY"


async def test_widget_form_keeps_only_allowed_parent_origin(client: httpx.AsyncClient) -> None:
    allowed = await client.get("/widget/form", params={"origin": ALLOWED})
    foreign = await client.get("/widget/form", params={"origin": FOREIGN})

    assert f'data-parent-origin="{ALLOWED}"' in allowed.text
    assert 'action="/widget/form?origin=http%3A%2F%2Flocalhost%3A8001"' in allowed.text
    assert 'data-parent-origin=""' in foreign.text
    assert FOREIGN not in foreign.text


# Submitting through the widget


async def test_widget_submission_shows_reference_and_link(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await _post_widget(client, origin=OWN, query=f"?origin={ALLOWED}")

    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith("/widget/sent/")
    assert parse_qs(urlsplit(location).query) == {"origin": [ALLOWED]}
    token = token_of(location)
    ticket = await only_ticket(db)
    assert ticket.channel == "widget"

    sent = await client.get(location)
    assert sent.status_code == 200
    assert element_text(sent.text, "reference") == "SR-000001"
    assert f'value="http://testserver/status/{token}"' in sent.text
    assert f'href="/status/{token}" target="_blank" rel="noopener"' in sent.text
    assert f'data-parent-origin="{ALLOWED}"' in sent.text
    assert "x-frame-options" not in sent.headers


async def test_widget_invalid_form_shown_again(client: httpx.AsyncClient, db: Database) -> None:
    response = await _post_widget(client, origin=OWN, email="nope")

    assert response.status_code == 422
    assert 'data-testid="error-email"' in response.text
    assert 'value="nope"' in response.text
    assert await ticket_count(db) == 0


@pytest.mark.parametrize("origin", [FOREIGN, ALLOWED, None])
async def test_widget_post_from_other_origin_rejected(
    client: httpx.AsyncClient, db: Database, origin: str | None
) -> None:
    response = await _post_widget(client, origin=origin)

    assert response.status_code == 403
    assert "could not be checked as coming from this site" in response.text
    assert await ticket_count(db) == 0


async def test_widget_post_with_same_origin_fetch_metadata(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(
        "/widget/form",
        data=FORM,
        files=[("attachments", ("", b"", "application/octet-stream"))],
        headers={"Sec-Fetch-Site": "same-origin"},
    )

    assert response.status_code == 303, response.text
    assert await ticket_count(db) == 1


# CORS on the intake API


async def test_preflight_from_allowed_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/requests",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, idempotency-key",
        },
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-methods"] == "POST, OPTIONS"
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "idempotency-key" in allowed_headers
    assert "content-type" in allowed_headers
    assert "access-control-allow-credentials" not in response.headers
    assert "Origin" in response.headers["vary"]


async def test_preflight_from_foreign_origin(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/requests",
        headers={"Origin": FOREIGN, "Access-Control-Request-Method": "POST"},
    )

    assert response.status_code == 403
    assert _cors_headers(response) == {}


async def test_preflight_for_method_not_offered(client: httpx.AsyncClient) -> None:
    response = await client.options(
        "/api/v1/requests",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "DELETE"},
    )

    assert response.status_code == 405
    assert _cors_headers(response) == {}


async def test_intake_from_allowed_origin_gets_cors(
    client: httpx.AsyncClient, db: Database
) -> None:
    response = await client.post(
        "/api/v1/requests", json=API_REQUEST, headers={"Origin": "http://127.0.0.1:8001"}
    )

    assert response.status_code == 201, response.text
    assert response.headers["access-control-allow-origin"] == "http://127.0.0.1:8001"
    assert "Retry-After" in response.headers["access-control-expose-headers"]
    assert "access-control-allow-credentials" not in response.headers
    ticket = await only_ticket(db)
    assert ticket.channel == "api"


async def test_intake_from_foreign_origin_gets_no_cors(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v1/requests", json=API_REQUEST, headers={"Origin": FOREIGN})

    assert _cors_headers(response) == {}


async def test_workspace_api_cors(client: httpx.AsyncClient) -> None:
    allowed = await client.get("/api/v1/workspace", headers={"Origin": ALLOWED})
    foreign = await client.get("/api/v1/workspace", headers={"Origin": FOREIGN})
    preflight = await client.options(
        "/api/v1/workspace",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
    )

    assert allowed.headers["access-control-allow-origin"] == ALLOWED
    assert _cors_headers(foreign) == {}
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-methods"] == "GET, OPTIONS"


async def test_other_api_routes_get_no_cors(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/tickets", headers={"Origin": ALLOWED})
    preflight = await client.options(
        "/api/v1/tickets",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "GET"},
    )

    assert response.status_code == 401
    assert _cors_headers(response) == {}
    assert _cors_headers(preflight) == {}
