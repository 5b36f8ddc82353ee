"""Rate limits of public submissions, by client address and by Origin header.

The HTTP tests refill one token per hour, so no token comes back while a test runs. The
bucket tests move a fake clock instead of waiting.
"""

from __future__ import annotations

import logging
from ipaddress import ip_network

import pytest
from portal_support import FORM, OpenApp, client_for, hidden_value, ticket_count

from opsdesk.db import Database
from opsdesk.web.ratelimit import IntakeRateLimiter, TokenBuckets, client_address

SLOW_REFILL = 1 / 60
"""Tokens per minute in the HTTP tests: one an hour."""

API_REQUEST = {
    "name": "Ada Obi",
    "email": "ada@example.com",
    "phone": "+234 803 555 0101",
    "service_type": "solar_repair",
    "contact_method": "phone_call",
    "subject": "Inverter beeps",
    "description": "It shuts down every hour.",
}


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _address_limits(burst: int) -> dict[str, object]:
    return {
        "rate_limit_address_burst": burst,
        "rate_limit_address_per_minute": SLOW_REFILL,
    }


def _origin_limits(burst: int) -> dict[str, object]:
    return {
        "rate_limit_origin_burst": burst,
        "rate_limit_origin_per_minute": SLOW_REFILL,
    }


# Token buckets


def test_bucket_allows_burst_then_waits() -> None:
    clock = FakeMonotonic()
    buckets = TokenBuckets(burst=3, per_minute=6, clock=clock)

    for _ in range(3):
        assert buckets.wait_seconds("a") == 0
        buckets.take("a")

    assert buckets.wait_seconds("a") == pytest.approx(10.0)
    assert buckets.wait_seconds("b") == 0


def test_bucket_refills_over_time() -> None:
    clock = FakeMonotonic()
    buckets = TokenBuckets(burst=2, per_minute=6, clock=clock)
    buckets.take("a")
    buckets.take("a")

    clock.now += 4
    assert buckets.wait_seconds("a") == pytest.approx(6.0)
    clock.now += 6
    assert buckets.wait_seconds("a") == 0
    clock.now += 3600
    buckets.take("a")
    buckets.take("a")
    assert buckets.wait_seconds("a") > 0


def test_bucket_forgets_least_recent_keys() -> None:
    clock = FakeMonotonic()
    buckets = TokenBuckets(burst=1, per_minute=1, clock=clock, max_keys=2)
    buckets.take("a")
    buckets.take("b")
    buckets.take("c")

    assert buckets.wait_seconds("a") == 0
    assert buckets.wait_seconds("c") > 0


def test_limiter_takes_nothing_when_origin_empty() -> None:
    clock = FakeMonotonic()
    limiter = IntakeRateLimiter(
        address_burst=5, address_per_minute=60, origin_burst=1, origin_per_minute=6, clock=clock
    )

    assert limiter.check(address="10.0.0.1", origin="https://a.example").allowed
    refused = limiter.check(address="10.0.0.1", origin="https://a.example")

    assert not refused.allowed
    assert refused.limited_by == "origin"
    assert refused.retry_after == 10
    assert limiter.addresses.wait_seconds("10.0.0.1") == 0
    assert limiter.check(address="10.0.0.1", origin=None).allowed


# Client address behind proxies


def _scope(peer: str, forwarded: str | None = None) -> dict[str, object]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return {"type": "http", "client": (peer, 5000), "headers": headers}


def test_forwarded_for_ignored_without_trusted_proxies() -> None:
    assert client_address(_scope("203.0.113.9", "198.51.100.7"), []) == "203.0.113.9"


def test_forwarded_for_read_from_trusted_proxy() -> None:
    proxies = [ip_network("10.0.0.0/8")]

    assert client_address(_scope("10.0.0.2", "198.51.100.7"), proxies) == "198.51.100.7"
    assert (
        client_address(_scope("10.0.0.2", "192.0.2.1, 198.51.100.7, 10.0.0.3"), proxies)
        == "198.51.100.7"
    )
    assert client_address(_scope("10.0.0.2", "garbage, 10.0.0.3"), proxies) == "10.0.0.2"
    assert client_address(_scope("10.0.0.2"), proxies) == "10.0.0.2"


def test_forwarded_for_ignored_from_untrusted_peer() -> None:
    proxies = [ip_network("10.0.0.0/8")]

    assert client_address(_scope("203.0.113.9", "198.51.100.7"), proxies) == "203.0.113.9"


# Over HTTP


async def test_api_intake_limited_per_address(open_app: OpenApp, db: Database) -> None:
    async with open_app(**_address_limits(2)) as app, client_for(app) as client:
        for _ in range(2):
            created = await client.post("/api/v1/requests", json=API_REQUEST)
            assert created.status_code == 201, created.text

        refused = await client.post("/api/v1/requests", json=API_REQUEST)

        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == "rate_limited"
        assert "too many requests from this address" in error["message"]
        assert await ticket_count(db) == 2

        async with client_for(app, "192.0.2.50") as other:
            allowed = await other.post("/api/v1/requests", json=API_REQUEST)
        assert allowed.status_code == 201


async def test_limited_address_logged_once(
    open_app: OpenApp, caplog: pytest.LogCaptureFixture
) -> None:
    async with open_app(**_address_limits(1)) as app, client_for(app, "192.0.2.77") as client:
        await client.post("/api/v1/requests", json=API_REQUEST)
        with caplog.at_level(logging.WARNING, logger="opsdesk.web.ratelimit"):
            for _ in range(3):
                refused = await client.post("/api/v1/requests", json=API_REQUEST)
                assert refused.status_code == 429

    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1, messages
    assert messages[0].startswith(
        "rate limit reached by address 192.0.2.77 on POST /api/v1/requests; retry after"
    )


async def test_reads_not_limited(open_app: OpenApp) -> None:
    async with open_app(**_address_limits(1)) as app, client_for(app) as client:
        for _ in range(3):
            response = await client.get("/api/v1/workspace")
            assert response.status_code == 200
        for _ in range(3):
            response = await client.get("/request")
            assert response.status_code == 200


async def test_portal_form_limited_with_html_page(open_app: OpenApp, db: Database) -> None:
    async with open_app(**_address_limits(1)) as app, client_for(app) as client:
        page = await client.get("/request")
        data = FORM | {"csrf_token": hidden_value(page.text, "csrf_token")}
        parts = [("attachments", ("", b"", "application/octet-stream"))]
        created = await client.post("/request", data=data, files=parts)
        assert created.status_code == 303, created.text

        refused = await client.post(
            "/request", data=data, files=parts, headers={"Accept": "text/html"}
        )

    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    assert int(refused.headers["retry-after"]) >= 1
    assert "Too many requests" in refused.text
    assert "wait" in refused.text
    assert refused.headers["x-frame-options"] == "DENY"
    assert await ticket_count(db) == 1


async def test_widget_form_limited_inside_frame(open_app: OpenApp) -> None:
    async with open_app(**_address_limits(1)) as app, client_for(app) as client:
        parts = [("attachments", ("", b"", "application/octet-stream"))]
        headers = {"Origin": "http://testserver"}
        created = await client.post("/widget/form", data=FORM, files=parts, headers=headers)
        assert created.status_code == 303, created.text

        refused = await client.post("/widget/form", data=FORM, files=parts, headers=headers)

    assert refused.status_code == 429
    assert "retry-after" in refused.headers
    assert 'class="widget-frame"' in refused.text
    assert "x-frame-options" not in refused.headers


async def test_customer_reply_limited(open_app: OpenApp) -> None:
    async with open_app(**_address_limits(2)) as app, client_for(app) as client:
        created = await client.post("/api/v1/requests", json=API_REQUEST)
        token = created.json()["status_url"].rsplit("/", 1)[1]
        page = await client.get(f"/status/{token}")
        data = {"body": "More detail", "csrf_token": hidden_value(page.text, "csrf_token")}
        replied = await client.post(f"/status/{token}/reply", data=data)
        assert replied.status_code == 303

        refused = await client.post(f"/status/{token}/reply", data=data)

    assert refused.status_code == 429
    assert "retry-after" in refused.headers


async def test_limit_per_origin_across_addresses(open_app: OpenApp, db: Database) -> None:
    limits = _origin_limits(2) | {"rate_limit_address_burst": 100}
    origin = {"Origin": "http://127.0.0.1:8001"}
    async with open_app(**limits) as app:
        for address in ("192.0.2.1", "192.0.2.2"):
            async with client_for(app, address, **origin) as client:
                response = await client.post("/api/v1/requests", json=API_REQUEST)
                assert response.status_code == 201, response.text

        async with client_for(app, "192.0.2.3", **origin) as client:
            refused = await client.post("/api/v1/requests", json=API_REQUEST)
        async with client_for(app, "192.0.2.3", Origin="http://localhost:8001") as client:
            other_origin = await client.post("/api/v1/requests", json=API_REQUEST)
        async with client_for(app, "192.0.2.3") as client:
            no_origin = await client.post("/api/v1/requests", json=API_REQUEST)

    assert refused.status_code == 429
    assert "the origin http://127.0.0.1:8001" in refused.json()["error"]["message"]
    assert refused.headers["access-control-allow-origin"] == "http://127.0.0.1:8001"
    assert other_origin.status_code == 201
    assert no_origin.status_code == 201
    assert await ticket_count(db) == 4


async def test_forwarded_addresses_limited_apart(open_app: OpenApp) -> None:
    limits = _address_limits(1) | {"trusted_proxies": "10.0.0.0/8"}
    async with open_app(**limits) as app, client_for(app, "10.0.0.2") as proxy:
        first = await proxy.post(
            "/api/v1/requests", json=API_REQUEST, headers={"X-Forwarded-For": "192.0.2.1"}
        )
        second = await proxy.post(
            "/api/v1/requests", json=API_REQUEST, headers={"X-Forwarded-For": "192.0.2.2"}
        )
        again = await proxy.post(
            "/api/v1/requests", json=API_REQUEST, headers={"X-Forwarded-For": "192.0.2.1"}
        )

    assert first.status_code == 201
    assert second.status_code == 201
    assert again.status_code == 429


async def test_forwarded_for_spoof_ignored(open_app: OpenApp) -> None:
    async with open_app(**_address_limits(1)) as app, client_for(app, "192.0.2.9") as client:
        first = await client.post(
            "/api/v1/requests", json=API_REQUEST, headers={"X-Forwarded-For": "198.51.100.1"}
        )
        second = await client.post(
            "/api/v1/requests", json=API_REQUEST, headers={"X-Forwarded-For": "198.51.100.2"}
        )

    assert first.status_code == 201
    assert second.status_code == 429


async def test_settings_read_trusted_proxy_list(open_app: OpenApp) -> None:
    async with open_app(trusted_proxies="10.0.0.1, 172.16.0.0/12") as app:
        assert app.state.ctx.settings.trusted_proxies == [
            ip_network("10.0.0.1/32"),
            ip_network("172.16.0.0/12"),
        ]
