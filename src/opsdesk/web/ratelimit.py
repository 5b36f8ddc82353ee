"""Rate limits for public submissions, by client address and by Origin header.

Each key (an address, or an Origin value) has a token bucket: it holds up to `burst`
tokens, every limited request takes one, and tokens come back at `per_minute`. A request
passes only when both its address bucket and (if it sent an Origin) its origin bucket
have a token, and then it takes one from each.

On PostgreSQL the buckets live in the database (`SharedRateLimiter`), so any number of
API processes enforce one limit together. On SQLite, which runs one process, they live
in memory (`IntakeRateLimiter`) and a restart clears them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Protocol

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from opsdesk.settings import Settings
from opsdesk.web.errors import error_body, html_error
from opsdesk.web.security import WIDGET_PREFIX
from opsdesk.web.templating import render

logger = logging.getLogger(__name__)

LIMITED_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("POST", "/api/v1/requests"),
    ("POST", "/api/v1/requests/status/{token}/replies"),
    ("POST", "/request"),
    ("POST", "/widget/form"),
    ("POST", "/status/{token}/reply"),
)
"""Method and path template of every public route that creates a ticket or a message."""
LIMITED_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (method, compile_path(template)[0]) for method, template in LIMITED_TEMPLATES
)

MAX_TRACKED_KEYS = 10_000
"""Buckets kept per kind; the least recently used are dropped beyond this."""
LOG_INTERVAL_SECONDS = 60.0
"""A limited key is logged at most once in this interval, so a flood cannot fill the log."""

Network = IPv4Network | IPv6Network


class TokenBuckets:
    """One token bucket per key, all with the same size and refill rate."""

    def __init__(
        self,
        *,
        burst: int,
        per_minute: float,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_TRACKED_KEYS,
    ) -> None:
        self.burst = burst
        self.per_second = per_minute / 60
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        """Key to (tokens, monotonic time of that count)."""

    def _tokens(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - at) * self.per_second)

    def wait_seconds(self, key: str) -> float:
        """Return how long `key` must wait for a token; 0 when one is there now."""
        missing = 1 - self._tokens(key, self.clock())
        return max(0.0, missing / self.per_second)

    def take(self, key: str) -> None:
        """Take one token from `key`'s bucket; call `wait_seconds` first to check there is one."""
        now = self.clock()
        self._buckets[key] = (self._tokens(key, now) - 1, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int
    """Whole seconds until a retry can pass, when not allowed."""
    limited_by: str
    """"address" or "origin", when not allowed."""


class RateLimiter(Protocol):
    async def verdict(self, *, address: str, origin: str | None) -> Verdict:
        """Take a token from each bucket that applies, or from none if one of them is empty."""
        ...


class IntakeRateLimiter:
    """The address and origin buckets of one process."""

    def __init__(
        self,
        *,
        address_burst: int,
        address_per_minute: float,
        origin_burst: int,
        origin_per_minute: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.addresses = TokenBuckets(
            burst=address_burst, per_minute=address_per_minute, clock=clock
        )
        self.origins = TokenBuckets(burst=origin_burst, per_minute=origin_per_minute, clock=clock)

    @classmethod
    def from_settings(cls, settings: Settings) -> IntakeRateLimiter:
        return cls(
            address_burst=settings.rate_limit_address_burst,
            address_per_minute=settings.rate_limit_address_per_minute,
            origin_burst=settings.rate_limit_origin_burst,
            origin_per_minute=settings.rate_limit_origin_per_minute,
        )

    def check(self, *, address: str, origin: str | None) -> Verdict:
        """Take a token from each bucket that applies, or from none if one of them is empty."""
        address_wait = self.addresses.wait_seconds(address)
        origin_wait = self.origins.wait_seconds(origin) if origin is not None else 0.0
        if address_wait > 0 or origin_wait > 0:
            limited_by = "address" if address_wait >= origin_wait else "origin"
            retry_after = max(1, math.ceil(max(address_wait, origin_wait)))
            return Verdict(allowed=False, retry_after=retry_after, limited_by=limited_by)
        self.addresses.take(address)
        if origin is not None:
            self.origins.take(origin)
        return Verdict(allowed=True, retry_after=0, limited_by="")

    async def verdict(self, *, address: str, origin: str | None) -> Verdict:
        return self.check(address=address, origin=origin)


TAKE_TOKENS = text(
    "SELECT allowed, wait_seconds, limited_by FROM opsdesk_take_rate_tokens("
    ":address, :origin, :now, :address_burst, :address_per_second, "
    ":origin_burst, :origin_per_second)"
)
MAX_KEY_LENGTH = 300
"""Maximum length of a bucket key stored as it is. Longer keys, say a forged Origin, are hashed."""


class SharedRateLimiter:
    """Address and origin buckets in PostgreSQL, shared by every process on the database.

    One call of the database function `opsdesk_take_rate_tokens` per limited request reads,
    refills and takes both buckets under row locks, in its own short transaction. The time
    comes from this process's wall clock, because processes on several hosts share the
    buckets. A host whose clock lags refills its callers' buckets a little late.

    If the database cannot be reached the request passes: the endpoint behind the limit
    needs the database too and returns 503 itself, and the limit must not turn a short
    outage into refused customers once the database is back.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        *,
        address_burst: int,
        address_per_minute: float,
        origin_burst: int,
        origin_per_minute: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.limits = {
            "address_burst": float(address_burst),
            "address_per_second": address_per_minute / 60,
            "origin_burst": float(origin_burst),
            "origin_per_second": origin_per_minute / 60,
        }
        self.clock = clock
        self._failure_logged_at = -math.inf

    @classmethod
    def from_settings(cls, settings: Settings, engine: AsyncEngine) -> SharedRateLimiter:
        return cls(
            engine,
            address_burst=settings.rate_limit_address_burst,
            address_per_minute=settings.rate_limit_address_per_minute,
            origin_burst=settings.rate_limit_origin_burst,
            origin_per_minute=settings.rate_limit_origin_per_minute,
        )

    async def verdict(self, *, address: str, origin: str | None) -> Verdict:
        values = self.limits | {
            "address": _bucket_key(address),
            "origin": _bucket_key(origin) if origin is not None else None,
            "now": self.clock(),
        }
        try:
            # One statement is atomic by itself, so no BEGIN and COMMIT round trips.
            async with self.engine.connect() as connection:
                autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
                allowed, wait, limited_by = (await autocommit.execute(TAKE_TOKENS, values)).one()
        except (DBAPIError, OSError) as exc:
            now = time.monotonic()
            if now - self._failure_logged_at >= LOG_INTERVAL_SECONDS:
                self._failure_logged_at = now
                logger.warning("rate limit not checked, letting requests pass: %s", exc)
            return Verdict(allowed=True, retry_after=0, limited_by="")
        if allowed:
            return Verdict(allowed=True, retry_after=0, limited_by="")
        return Verdict(allowed=False, retry_after=max(1, math.ceil(wait)), limited_by=limited_by)


def _bucket_key(key: str) -> str:
    if len(key) <= MAX_KEY_LENGTH:
        return key
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def _parse_address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _is_trusted(address: IPv4Address | IPv6Address | None, proxies: Iterable[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(scope: Scope, trusted_proxies: list[Network]) -> str:
    """Return the address of the client that sent this request.

    X-Forwarded-For is read only when the connection comes from a trusted proxy. Its
    entries are read from the right, skipping trusted proxies, so a client cannot pick its
    own address by sending the header itself: the first untrusted entry is the address
    that the nearest trusted proxy saw.
    """
    peer = scope.get("client")
    peer_host = peer[0] if peer else "unknown"
    if not trusted_proxies or not _is_trusted(_parse_address(peer_host), trusted_proxies):
        return peer_host
    forwarded: list[str] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            forwarded.extend(part.strip() for part in value.decode("latin-1").split(","))
    for entry in reversed(forwarded):
        address = _parse_address(entry)
        if address is None:
            # Anything unreadable left of the trusted proxies was written by the client.
            break
        if not _is_trusted(address, trusted_proxies):
            return str(address)
    return peer_host


def _limited(method: str, path: str) -> bool:
    return any(
        method == route_method and pattern.match(path) for route_method, pattern in LIMITED_ROUTES
    )


class RateLimitMiddleware:
    """Reject public submissions over the limit with 429 and a Retry-After header.

    API clients get a JSON error and forms an HTML page.
    """

    def __init__(
        self, app: ASGIApp, *, limiter: RateLimiter, trusted_proxies: list[Network]
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.trusted_proxies = trusted_proxies
        self._logged: OrderedDict[str, float] = OrderedDict()
        """Limited key to the monotonic time it was last logged."""

    def _log_once(self, key: str, verdict: Verdict, scope: Scope) -> None:
        now = time.monotonic()
        last = self._logged.get(key)
        if last is not None and now - last < LOG_INTERVAL_SECONDS:
            return
        self._logged[key] = now
        self._logged.move_to_end(key)
        while len(self._logged) > MAX_TRACKED_KEYS:
            self._logged.popitem(last=False)
        logger.warning(
            "rate limit reached by %s on %s %s; retry after %d s",
            key,
            scope["method"],
            scope["path"],
            verdict.retry_after,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _limited(scope["method"], scope["path"]):
            await self.app(scope, receive, send)
            return

        origin = None
        for name, value in scope["headers"]:
            if name == b"origin":
                origin = value.decode("latin-1").strip().lower()
        address = client_address(scope, self.trusted_proxies)
        verdict = await self.limiter.verdict(address=address, origin=origin)
        if verdict.allowed:
            await self.app(scope, receive, send)
            return

        source = "this address" if verdict.limited_by == "address" else f"the origin {origin}"
        message = (
            f"too many requests from {source}; wait {verdict.retry_after} seconds, then send again"
        )
        headers = {"Retry-After": str(verdict.retry_after)}
        key = f"address {address}" if verdict.limited_by == "address" else f"origin {origin}"
        self._log_once(key, verdict, scope)
        if scope["path"].startswith("/api/"):
            body = json.dumps(error_body("rate_limited", message)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"retry-after", headers["Retry-After"].encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        request = Request(scope)
        response: Response
        if scope["path"].startswith(WIDGET_PREFIX):
            # The widget form is shown in a small frame on another site, so no portal header.
            response = render(
                request,
                "widget/message.html",
                {"heading": "Too many requests", "message": message[:1].upper() + message[1:]},
                status=429,
                headers=headers,
            )
        else:
            response = html_error(request, 429, message, headers)
        await response(scope, receive, send)
