"""Security headers for every response, and the framing rule for the request widget."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

WIDGET_PREFIX = "/widget/"
# FastAPI's interactive API pages load Swagger UI and ReDoc from a CDN with inline scripts.
API_DOC_PATHS = frozenset({"/docs", "/docs/oauth2-redirect", "/redoc"})


class SecurityHeaders:
    """Add a content security policy and related headers.

    Pages load scripts and styles only from this origin, so an injected ``<script>`` in
    user text would not run even if it escaped the templates' autoescaping. Pages may not
    be framed, except the widget form, which the workspace's allowed origins may frame.
    """

    def __init__(self, app: ASGIApp, *, widget_origins: list[str], secure: bool) -> None:
        self.app = app
        self.widget_ancestors = " ".join(["'self'", *widget_origins])
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        framable = scope["path"].startswith(WIDGET_PREFIX)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                ancestors = self.widget_ancestors if framable else "'none'"
                if "content-security-policy" not in headers and scope["path"] not in API_DOC_PATHS:
                    headers["Content-Security-Policy"] = (
                        "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                        f"script-src 'self'; object-src 'none'; base-uri 'none'; "
                        f"form-action 'self'; frame-ancestors {ancestors}"
                    )
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                if not framable:
                    headers.setdefault("X-Frame-Options", "DENY")
                if self.secure:
                    headers.setdefault("Strict-Transport-Security", "max-age=31536000")
            await send(message)

        await self.app(scope, receive, send_with_headers)
