"""CSRF checks for the public forms, which have no session to keep a token in.

Portal pages use a double-submit token: the page sets a random token in a cookie and in a
hidden field, and a POST must carry both with the same value. Another site can make a
browser send the cookie, but it cannot read it to fill in the field.

The widget form runs in a frame on another site, where browsers may block or partition
this server's cookies. It is checked by the Origin header instead, which browsers set on
every POST and pages cannot change: it must be this server's own origin.
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

from opsdesk.settings import Settings

CSRF_FIELD = "csrf_token"
_TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_\-]{43}")
"""Shape of `secrets.token_urlsafe(32)`; any other cookie value is replaced."""


def is_secure(settings: Settings) -> bool:
    return settings.base_url.startswith("https://")


def cookie_name(settings: Settings) -> str:
    # Browsers accept a __Host- cookie only with Secure, path / and no Domain, so a
    # sibling subdomain cannot plant a token of its own.
    return "__Host-opsdesk_portal_csrf" if is_secure(settings) else "opsdesk_portal_csrf"


def page_token(request: Request, settings: Settings) -> str:
    """Return the token for a page: the browser's current one, or a new one."""
    current = request.cookies.get(cookie_name(settings), "")
    if _TOKEN_PATTERN.fullmatch(current):
        return current
    return secrets.token_urlsafe(32)


def set_token_cookie(response: Response, token: str, settings: Settings) -> None:
    response.set_cookie(
        cookie_name(settings),
        token,
        httponly=True,
        samesite="lax",
        secure=is_secure(settings),
        path="/",
    )


def double_submit_valid(request: Request, sent: object, settings: Settings) -> bool:
    """Return whether the form field `sent` matches the token cookie."""
    expected = request.cookies.get(cookie_name(settings), "")
    if not isinstance(sent, str) or not expected or not _TOKEN_PATTERN.fullmatch(expected):
        return False
    return secrets.compare_digest(sent.encode(), expected.encode())


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def same_origin_post(request: Request, settings: Settings) -> bool:
    """Return whether a POST came from a page of this server.

    The Origin header must be the origin of `base_url` or of the address the request was
    sent to. Without an Origin header, the browser's Sec-Fetch-Site header must say
    same-origin.
    """
    origin = request.headers.get("origin")
    if origin is not None:
        own = {_origin_of(settings.base_url), _origin_of(str(request.base_url))}
        return origin.strip().lower() in own
    return request.headers.get("sec-fetch-site") == "same-origin"
