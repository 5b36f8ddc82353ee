"""Standard Webhooks signatures (https://www.standardwebhooks.com/).

A receiver verifies ``webhook-signature`` as base64(HMAC-SHA256(secret, id.timestamp.body))
with the `standardwebhooks` package or a few lines of its own; docs/api.md shows both.
"""

from __future__ import annotations

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the prefix the Standard Webhooks spec defines


def new_secret() -> str:
    """Return a fresh signing secret: ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_headers(*, secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, at, body)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def mask_secret(secret: str | None) -> str | None:
    if not secret:
        return None
    return f"{secret[:10]}…"
