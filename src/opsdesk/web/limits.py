"""Body size and content type checks for API writes, before any route runs."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from opsdesk.web.errors import error_body

WRITE_METHODS = frozenset({b"POST", b"PUT", b"PATCH"})
JSON_TYPES = ("application/json",)


class BodyLimitMiddleware:
    """Reject API writes whose body is larger than `max_bytes` (413) or not JSON (415).

    The body is read here in full, up to the limit, and replayed to the route, so a client
    that lies in Content-Length or sends chunks is held to the same limit.
    `raw_paths` maps exact paths to the content types they accept instead of JSON.
    """

    def __init__(
        self, app: ASGIApp, *, max_bytes: int, raw_paths: dict[str, tuple[str, ...]] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.raw_paths = raw_paths or {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        method = scope["method"].encode()
        if method not in WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        accepted = self.raw_paths.get(scope["path"].rstrip("/"), JSON_TYPES)
        content_type = (
            headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
        )
        length_header = headers.get(b"content-length")
        if (
            length_header is not None
            and length_header.isdigit()
            and int(length_header) > self.max_bytes
        ):
            await _reply(send, 413, "payload_too_large", self._too_large())
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await _reply(send, 413, "payload_too_large", self._too_large())
                return
        if body and content_type not in accepted:
            shown = content_type or "none"
            await _reply(
                send,
                415,
                "unsupported_media_type",
                f"Content-Type {shown} is not accepted here; send {' or '.join(accepted)}",
            )
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes"


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    payload = json.dumps(error_body(code, message)).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
