"""Custom request headers of a subscription, and masking of secrets in the delivery log.

A subscription may add headers a receiver needs, such as ``Authorization`` for an API
gateway or ``X-Tenant``. Names that the HTTP connection or the signature depend on are
rejected: hop-by-hop headers, ``Host``, ``Content-Length``, ``Content-Type``,
``Content-Encoding``, ``User-Agent`` and every ``webhook-*`` header.
"""

from __future__ import annotations

import re

from opsdesk.errors import InvalidInput

MAX_HEADERS = 20
MAX_NAME_CHARS = 100
MAX_VALUE_CHARS = 2000
MASK = "…"

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
RESERVED = frozenset(
    {"host", "content-length", "content-type", "content-encoding", "user-agent", "expect"}
)
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SENSITIVE_NAME = re.compile(
    r"auth|token|secret|key|password|passwd|signature|session|cookie|credential", re.IGNORECASE
)


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Validate custom headers and return them with lower-case names.

    Raise InvalidInput with one detail per rejected header, named ``headers.NAME``.
    """
    if len(headers) > MAX_HEADERS:
        raise InvalidInput(
            f"{len(headers)} custom headers given; at most {MAX_HEADERS} are allowed",
            details=[{"field": "headers", "message": f"at most {MAX_HEADERS} headers"}],
        )
    details: list[dict[str, str]] = []
    checked: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        problem = None
        if not _TOKEN.match(name) or len(name) > MAX_NAME_CHARS:
            problem = f"invalid header name: use letters, digits and - (at most {MAX_NAME_CHARS})"
        elif lower in HOP_BY_HOP:
            problem = "a hop-by-hop header, which applies to one connection only"
        elif lower in RESERVED:
            problem = "set by Opsdesk for every delivery"
        elif lower.startswith("webhook-"):
            problem = "webhook-* headers carry the signature and are set by Opsdesk"
        elif lower in checked:
            problem = "given twice with different capitalisation"
        elif not isinstance(value, str) or _CONTROL.search(value):
            problem = "invalid value: control characters and line breaks are not allowed"
        elif len(value) > MAX_VALUE_CHARS:
            problem = f"value too long: at most {MAX_VALUE_CHARS} characters"
        if problem is not None:
            details.append({"field": f"headers.{name}", "message": problem})
            continue
        checked[lower] = value.strip()
    if details:
        names = ", ".join(detail["field"] for detail in details)
        raise InvalidInput(f"invalid custom headers: {names}", details=details)
    return checked


def is_sensitive(name: str) -> bool:
    """Whether a header's value is kept out of views and the delivery log."""
    return bool(_SENSITIVE_NAME.search(name))


def mask_value(name: str, value: str) -> str:
    """Mask a secret header value; ``Authorization`` keeps its scheme (``Bearer …``)."""
    if not is_sensitive(name):
        return value
    if name.lower() == "authorization" and " " in value.strip():
        return f"{value.strip().split(' ', 1)[0]} {MASK}"
    return MASK


def mask_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: mask_value(name, value) for name, value in headers.items()}
