"""Logging set-up shared by every command: one line per record, and no secrets.

Third-party loggers that print secrets at their verbose levels are raised to a quieter
level. httpx logs every outgoing URL, and a Slack incoming-webhook URL is itself a secret.
aiosqlite logs SQL parameters at DEBUG. uvicorn's access log prints request paths, which
carry customer status tokens, so those tokens are masked.
"""

from __future__ import annotations

import logging
import re
import sys

_STATUS_TOKEN = re.compile(r"(/status/)[A-Za-z0-9_\-]+")


class MaskStatusTokens(logging.Filter):
    """Replace the token in status-page paths with ``…`` in access-log records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _STATUS_TOKEN.sub(r"\1…", argument) if isinstance(argument, str) else argument
                for argument in record.args
            )
        return True


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
    logging.getLogger("uvicorn.access").addFilter(MaskStatusTokens())
