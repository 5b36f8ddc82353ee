"""The exception tree of Opsdesk.

Services raise these; the web layer maps each class to its HTTP status in one handler,
and the CLI prints the message. Messages are full sentences that name the value and,
where one exists, the fix.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote


class OpsdeskError(Exception):
    """Base class. `status_code` is the HTTP status the API answers with."""

    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class InvalidInput(OpsdeskError):
    status_code = 422
    code = "invalid_input"


class NotFound(OpsdeskError):
    status_code = 404
    code = "not_found"


class Conflict(OpsdeskError):
    status_code = 409
    code = "conflict"


class Unauthorized(OpsdeskError):
    status_code = 401
    code = "unauthorized"


class Forbidden(OpsdeskError):
    status_code = 403
    code = "forbidden"


class PayloadTooLarge(OpsdeskError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(OpsdeskError):
    status_code = 415
    code = "unsupported_media_type"


class ServiceUnavailable(OpsdeskError):
    status_code = 503
    code = "service_unavailable"


class SignInRequired(OpsdeskError):
    """The page needs a signed-in user; HTML requests are redirected to the sign-in page."""

    status_code = 401
    code = "sign_in_required"

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in to the console first")
        self.next_path = next_path

    @property
    def sign_in_url(self) -> str:
        return f"/console/login?next={quote(self.next_path, safe='/')}"


class WorkspaceError(OpsdeskError):
    """The workspace file is invalid; `problems` holds one line per error."""

    status_code = 500
    code = "invalid_workspace"

    def __init__(self, source: str, problems: list[str]) -> None:
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"{source} has {len(problems)} error(s):\n{lines}")
        self.source = source
        self.problems = problems
