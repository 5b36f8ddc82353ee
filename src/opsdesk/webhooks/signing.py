"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A receiver verifies ``webhook-signature`` as base64(HMAC-SHA256(secret, id.timestamp.body))
with the `standardwebhooks` package or a few lines of its own; docs/api.md shows both.
The same scheme authenticates requests other systems send to the inbound endpoint.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime

from standardwebhooks import Webhook

from opsdesk.errors import InvalidInput, Unauthorized

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix the Standard Webhooks spec defines
SECRET_PATTERN = re.compile(r"^whsec_[A-Za-z0-9+/]{24,}={0,2}$")


def new_secret() -> str:
    """Return a fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def check_secret(secret: str) -> str:
    """Return `secret` if it has the Standard Webhooks form, else raise InvalidInput."""
    if not SECRET_PATTERN.match(secret):
        raise InvalidInput(
            "invalid secret: expected whsec_ followed by at least 24 base64 characters",
            details=[{"field": "secret", "message": "expected whsec_ and base64"}],
        )
    return secret


def signature_headers(
    *, secrets: list[str], message_id: str, at: datetime, body: bytes
) -> dict[str, str]:
    """Return the webhook-* headers, with one space-separated signature per secret."""
    signatures = [Webhook(secret).sign(message_id, at, body) for secret in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def verify_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: datetime,
    tolerance_seconds: int,
) -> str:
    """Check a signed request and return its ``webhook-id``; raise Unauthorized if invalid.

    `headers` must look names up without regard to case, as Starlette's headers do. The
    timestamp is compared with `now`, not the system clock, so tests can move time.
    """
    message_id = headers.get("webhook-id", "").strip()
    timestamp = headers.get("webhook-timestamp", "").strip()
    signatures = headers.get("webhook-signature", "").strip()
    missing = [
        name
        for name, value in (
            ("webhook-id", message_id),
            ("webhook-timestamp", timestamp),
            ("webhook-signature", signatures),
        )
        if not value
    ]
    if missing:
        raise Unauthorized(
            f"missing {', '.join(missing)} header(s); sign the request as Standard Webhooks "
            "describes, with the secret of this source"
        )
    if not timestamp.isdigit():
        raise Unauthorized(
            f"invalid webhook-timestamp {timestamp[:20]!r}: expected seconds since 1970"
        )
    sent_at = datetime.fromtimestamp(int(timestamp), tz=UTC)
    skew = abs((now - sent_at).total_seconds())
    if skew > tolerance_seconds:
        raise Unauthorized(
            f"webhook-timestamp {timestamp} is {skew:.0f} s away from the server clock; at "
            f"most {tolerance_seconds} s are accepted, so send the current time and check "
            "the sender's clock"
        )
    try:
        expected = Webhook(secret).sign(message_id, sent_at, body).encode()
    except (binascii.Error, ValueError) as exc:
        raise Unauthorized("this source's secret is not valid base64; fix the workspace") from exc
    for signature in signatures.split():
        if hmac.compare_digest(signature.encode(), expected):
            return message_id
    raise Unauthorized(
        "no valid signature in webhook-signature: sign webhook-id.webhook-timestamp.body "
        "with this source's secret and send it as v1,<base64>"
    )


def mask_secret(secret: str | None) -> str | None:
    if not secret:
        return None
    return f"{secret[:10]}…"
