"""Cross-origin access to the public intake API for the workspace's allowed origins.

Only the routes in `CORS_ROUTES` accept cross-origin requests, and only for origins listed
in the workspace's `allowed_origins`. Credentials (cookies, HTTP authentication) are never
allowed. Requests from other origins get no CORS headers, so browsers keep the response
from the calling page.
"""

from __future__ import annotations

import json

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsdesk.web.errors import error_body

CORS_ROUTES: dict[str, tuple[str, ...]] = {
    "/api/v1/requests": ("POST",),
    "/api/v1/workspace": ("GET",),
}
"""Path to the methods other origins may use on it (OPTIONS preflights are implied)."""

ALLOWED_REQUEST_HEADERS = ("Content-Type", "Idempotency-Key")
EXPOSED_HEADERS = ("Retry-After", "Idempotent-Replayed")
PREFLIGHT_MAX_AGE_SECONDS = 600


def normalize_origin(origin: str) -> str:
    """Return an origin as browsers send it: lower case, without a trailing slash."""
    return origin.strip().rstrip("/").lower()


class IntakeCors:
    """Respond to CORS preflights and add CORS headers on the intake routes."""

    def __init__(self, app: ASGIApp, *, allowed_origins: list[str]) -> None:
        self.app = app
        self.allowed_origins = frozenset(normalize_origin(origin) for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        methods = CORS_ROUTES.get(scope["path"]) if scope["type"] == "http" else None
        if methods is None:
            await self.app(scope, receive, send)
            return
        headers = {name: value.decode("latin-1") for name, value in scope["headers"]}
        origin = headers.get(b"origin")
        requested_method = headers.get(b"access-control-request-method")
        if scope["method"] == "OPTIONS" and origin is not None and requested_method is not None:
            await self._preflight(send, origin, requested_method.strip().upper(), methods)
            return
        allowed = origin is not None and normalize_origin(origin) in self.allowed_origins

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                response_headers = MutableHeaders(scope=message)
                response_headers.add_vary_header("Origin")
                if allowed and origin is not None:
                    response_headers["Access-Control-Allow-Origin"] = origin
                    response_headers["Access-Control-Expose-Headers"] = ", ".join(EXPOSED_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_cors)

    async def _preflight(
        self, send: Send, origin: str, requested_method: str, methods: tuple[str, ...]
    ) -> None:
        if normalize_origin(origin) not in self.allowed_origins:
            await _send_json(
                send,
                403,
                f"origin {origin} may not call this API from a browser; add it to the "
                "workspace's allowed_origins",
                [(b"vary", b"Origin")],
            )
            return
        if requested_method not in methods:
            await _send_json(
                send,
                405,
                f"{requested_method} is not allowed from other origins here; use "
                f"{', '.join(methods)}",
                [(b"vary", b"Origin")],
            )
            return
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ", ".join((*methods, "OPTIONS")).encode()),
            (b"access-control-allow-headers", ", ".join(ALLOWED_REQUEST_HEADERS).encode()),
            (b"access-control-max-age", str(PREFLIGHT_MAX_AGE_SECONDS).encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})


async def _send_json(
    send: Send, status: int, message: str, headers: list[tuple[bytes, bytes]]
) -> None:
    code = "forbidden" if status == 403 else "method_not_allowed"
    body = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
