"""The outbound guard: internal addresses are refused at creation and at delivery.

No test here lets a request leave the machine. Deliveries to refused addresses go
through a transport that only records, and the guarded transport's inner transport
refuses anything but loopback, so a broken guard fails the test instead of sending.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select
from webhook_receiver import Receiver, Reply, run_delivery_jobs, submit_request

from opsdesk.context import Context
from opsdesk.db import Database
from opsdesk.webhooks import jobs, service
from opsdesk.webhooks.guard import (
    GuardedTransport,
    OutboundBlocked,
    OutboundGuard,
    blocked_reason,
    literal_address,
)
from opsdesk.webhooks.models import WebhookAttempt, WebhookDelivery

SUBSCRIPTIONS = "/api/v1/webhook-subscriptions"


class LoopbackOnly(httpx.AsyncBaseTransport):
    """Sends requests to loopback addresses only, and records every request it is handed."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport(retries=0)
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        address = ipaddress.ip_address(request.url.host)
        if not address.is_loopback:
            raise AssertionError(f"the test transport refuses {address}: not loopback")
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def fake_resolver(*answers: list[str]):
    """Return a resolver that gives `answers` in turn, the last one from then on."""
    remaining: Iterator[list[str]] = iter(answers)
    last: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        nonlocal last
        last = next(remaining, last)
        return list(last)

    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.10", "a private address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104 - an address checked, not bound
        ("::", "an unspecified address"),
        ("169.254.169.254", "a cloud metadata address"),
        ("fd00:ec2::254", "a cloud metadata address"),
        ("100.100.100.200", "a cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.251", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("100.64.0.1", "an address that is not globally routable"),
        ("::ffff:10.0.0.1", "a private address inside an IPv6 address"),
        ("64:ff9b::a9fe:a9fe", "a cloud metadata address inside an IPv6 address"),
        ("2002:7f00:1::1", "a loopback address inside an IPv6 address"),
    ],
)
def test_blocked_reason_names_range(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "8.8.8.8"])
def test_public_address_passes(address: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("[::1]", "::1"),
        ("10.0.0.1", "10.0.0.1"),
    ],
)
def test_literal_address_forms(host: str, expected: str) -> None:
    assert literal_address(host) == ipaddress.ip_address(expected)


def test_host_name_is_not_literal() -> None:
    assert literal_address("hooks.example.com") is None
    assert literal_address("1.example") is None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://[fd00:ec2::254]/latest",
        "http://localhost:8080/hook",
        "http://api.localhost/hook",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://127.1/hook",
        "ftp://hooks.example.com/hook",
    ],
)
def test_check_url_rejects(url: str) -> None:
    with pytest.raises(OutboundBlocked):
        OutboundGuard().check_url(url)


def test_check_url_accepts_public_names() -> None:
    guard = OutboundGuard()
    guard.check_url("https://hooks.example.com/opsdesk")
    guard.check_url("http://93.184.216.34:8080/hook")


def test_allow_list_entries() -> None:
    guard = OutboundGuard.from_entries(
        ["127.0.0.1", "10.20.0.0/16", "hooks.internal", "*.corp.example"]
    )

    guard.check_url("http://127.0.0.1:9000/hook")
    guard.check_url("http://10.20.3.4/hook")
    guard.check_url("http://hooks.internal/hook")
    guard.check_url("http://tickets.corp.example/hook")
    with pytest.raises(OutboundBlocked, match="OPSDESK_WEBHOOK_ALLOWED_HOSTS"):
        guard.check_url("http://10.21.0.1/hook")
    with pytest.raises(OutboundBlocked):
        guard.check_url("http://127.0.0.2/hook")
    assert guard.host_allowed("a.b.corp.example")
    assert not guard.host_allowed("corp.example")


async def test_allowed_name_resolves_anywhere() -> None:
    guard = OutboundGuard.from_entries(["hooks.internal"], resolver=fake_resolver(["10.9.9.9"]))

    addresses = await guard.resolve("hooks.internal", 80)

    assert addresses == [ipaddress.ip_address("10.9.9.9")]


async def test_resolve_rejects_one_internal_answer() -> None:
    guard = OutboundGuard(resolver=fake_resolver(["93.184.216.34", "10.0.0.1"]))

    with pytest.raises(OutboundBlocked) as raised:
        await guard.resolve("hooks.example.test", 443)

    assert "hooks.example.test resolves to 10.0.0.1, a private address" in str(raised.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:8080/hook",
        "http://localhost:8080/hook",
        "http://metadata.google.internal/",
        "http://127.0.0.2:8080/hook",
    ],
)
async def test_create_rejects_internal_url(url: str, client: httpx.AsyncClient, make_user) -> None:
    admin = await make_user("admin")

    response = await client.post(
        SUBSCRIPTIONS, json={"url": url, "event_types": ["*"]}, headers=admin.headers
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert [field["field"] for field in error["fields"]] == ["url"]
    assert "OPSDESK_WEBHOOK_ALLOWED_HOSTS" in error["message"]
    listed = await client.get(SUBSCRIPTIONS, headers=admin.headers)
    assert [s for s in listed.json() if s["source"] == "api"] == []


async def test_create_accepts_allow_listed(
    client: httpx.AsyncClient, make_user, receiver: Receiver
) -> None:
    admin = await make_user("admin")

    response = await client.post(
        SUBSCRIPTIONS, json={"url": receiver.url, "event_types": ["*"]}, headers=admin.headers
    )

    assert response.status_code == 201, response.text


async def subscribe_unchecked(db: Database, ctx: Context, url: str) -> None:
    """Store a subscription without the creation check, as one made before the guard was."""
    async with db.transaction() as session:
        await service.create_subscription(
            session,
            url=url,
            event_types=["ticket.created"],
            kind="webhook",
            secret=None,
            description=None,
            at=ctx.clock.now(),
        )


async def only_attempt(db: Database) -> tuple[WebhookDelivery, WebhookAttempt]:
    async with db.read() as session:
        [delivery] = (await session.execute(select(WebhookDelivery))).scalars().all()
        [attempt] = (await session.execute(select(WebhookAttempt))).scalars().all()
        return delivery, attempt


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://10.0.0.1/hook", "10.0.0.1, a private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254, a cloud metadata address"),
        ("http://[::1]:8080/hook", "::1, a loopback address"),
        ("http://localhost:8080/hook", "localhost is a localhost name"),
    ],
)
async def test_delivery_to_internal_address_refused(
    url: str, shown: str, client: httpx.AsyncClient, db: Database, ctx: Context
) -> None:
    await subscribe_unchecked(db, ctx, url)
    sent: list[httpx.Request] = []
    recorder = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    await submit_request(client)

    async with httpx.AsyncClient(transport=recorder) as outbound:
        assert await run_delivery_jobs(db, ctx, outbound) == 1
        assert await run_delivery_jobs(db, ctx, outbound) == 0

    assert sent == []
    delivery, attempt = await only_attempt(db)
    assert delivery.status == "failed"
    assert delivery.attempt_count == 1
    assert attempt.outcome == "failed"
    assert attempt.status_code is None
    assert attempt.error is not None
    assert attempt.error.startswith("configuration fault: ")
    assert shown in attempt.error


async def test_name_resolving_to_loopback_refused(
    client: httpx.AsyncClient, db: Database, ctx: Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A guard with an empty allow-list and a stand-in resolver, so no DNS server is asked.
    guard = OutboundGuard(resolver=fake_resolver(["127.0.0.1"]))
    monkeypatch.setattr(jobs, "guard_for", lambda settings: guard)
    await subscribe_unchecked(db, ctx, "http://hooks.example.test:8080/hook")
    sent: list[httpx.Request] = []
    recorder = httpx.MockTransport(lambda request: sent.append(request) or httpx.Response(200))
    await submit_request(client)

    async with httpx.AsyncClient(transport=recorder) as outbound:
        await run_delivery_jobs(db, ctx, outbound)

    assert sent == []
    delivery, attempt = await only_attempt(db)
    assert delivery.status == "failed"
    assert attempt.error is not None
    assert "hooks.example.test resolves to 127.0.0.1, a loopback address" in attempt.error


async def test_transport_connects_to_checked_address(receiver: Receiver) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    guard = OutboundGuard.from_entries(["127.0.0.1"], resolver=fake_resolver(["127.0.0.1"]))
    inner = LoopbackOnly()
    transport = GuardedTransport(guard, make_transport=lambda: inner)

    async with httpx.AsyncClient(transport=transport) as guarded:
        response = await guarded.post(f"http://receiver.example.test:{port}/hooks", content=b"{}")

    assert response.status_code == 200
    [routed] = inner.requests
    assert routed.url.host == "127.0.0.1"
    [received] = receiver.requests
    assert received.headers["host"] == f"receiver.example.test:{port}"
    assert received.path == "/hooks"


async def test_rebinding_after_check_refused(receiver: Receiver) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    # The name first points at the allowed receiver, then at an internal address.
    guard = OutboundGuard.from_entries(
        ["127.0.0.1"], resolver=fake_resolver(["127.0.0.1"], ["10.0.0.1"])
    )
    inner = LoopbackOnly()
    transport = GuardedTransport(guard, make_transport=lambda: inner)

    async with httpx.AsyncClient(transport=transport) as guarded:
        first = await guarded.post(f"http://receiver.example.test:{port}/hooks", content=b"{}")
        with pytest.raises(OutboundBlocked, match=re.escape("resolves to 10.0.0.1")):
            await guarded.post(f"http://receiver.example.test:{port}/hooks", content=b"{}")

    assert first.status_code == 200
    assert len(inner.requests) == 1
    assert len(receiver.requests) == 1


async def test_redirect_target_checked(receiver: Receiver) -> None:
    receiver.script(Reply(302, headers={"location": "http://10.0.0.1/steal"}))
    guard = OutboundGuard.from_entries(["127.0.0.1"])
    inner = LoopbackOnly()
    transport = GuardedTransport(guard, make_transport=lambda: inner)

    async with httpx.AsyncClient(transport=transport, follow_redirects=True) as guarded:
        with pytest.raises(OutboundBlocked, match=re.escape("10.0.0.1, a private address")):
            await guarded.post(receiver.url, content=b"{}")

    assert [request.url.host for request in inner.requests] == ["127.0.0.1"]
    assert len(receiver.requests) == 1
