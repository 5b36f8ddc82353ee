"""Turn exceptions into JSON error responses of one shape.

{"error": {"code": "invalid_input", "message": "...",
           "fields": [{"field": "email", "message": "..."}]}}
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from opsdesk.errors import OpsdeskError, SignInRequired
from opsdesk.tickets.service import workspace_problems
from opsdesk.web.templating import render

logger = logging.getLogger(__name__)

DATABASE_RETRY_AFTER_SECONDS = 5

_MESSAGES = {
    "missing": "field required",
    "extra_forbidden": "unknown field; remove it",
    "string_too_long": "too long: at most {max_length} characters",
    "string_too_short": "too short: at least {min_length} character(s)",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "list_type": "must be a list",
    "dict_type": "must be an object",
    "model_attributes_type": "must be an object",
    "url_parsing": "must be a URL such as https://example.com/hook",
    "url_scheme": "URL scheme must be http or https",
}


def error_body(
    code: str, message: str, fields: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return {"error": body}


def _field_name(location: tuple[Any, ...]) -> str:
    parts = [str(part) for part in location if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _field_message(error: dict[str, Any]) -> str:
    template = _MESSAGES.get(error["type"])
    if template is not None:
        try:
            return template.format(**error.get("ctx", {}))
        except (KeyError, IndexError):
            return template
    message = str(error["msg"])
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def fields_message(fields: list[dict[str, Any]]) -> str:
    """Summarise field errors in one line: ``invalid fields: email, phone``."""
    names = ", ".join(sorted({str(field["field"]) for field in fields}))
    return f"invalid or missing fields: {names}"


def _wants_html(request: Request) -> bool:
    """Pages (not the API) answer browsers with an HTML error page."""
    if request.url.path.startswith("/api/"):
        return False
    return "text/html" in request.headers.get("accept", "")


_HEADINGS = {
    400: "Bad request",
    401: "Sign in required",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Please check the form",
    429: "Too many requests",
    503: "Temporarily unavailable",
}


def html_error(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    console = request.url.path.startswith("/console")
    return render(
        request,
        "error.html",
        {
            "status": status,
            "heading": _HEADINGS.get(status, "Something went wrong"),
            "message": message[:1].upper() + message[1:],
            "console": console,
            "staff": None,
            "back_url": "/console" if console else "/",
            "back_label": "Back to the console" if console else "Back to the start page",
        },
        status=status,
        headers=headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(OpsdeskError)
    async def _opsdesk(request: Request, exc: OpsdeskError) -> Response:
        if isinstance(exc, SignInRequired):
            if _wants_html(request):
                return RedirectResponse(exc.sign_in_url, status_code=303)
        elif _wants_html(request):
            return html_error(request, exc.status_code, exc.message)
        message = exc.message
        if exc.status_code == 422 and exc.details and message == "the request has invalid fields":
            message = fields_message(exc.details)
        headers = (
            {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)} if exc.status_code == 503 else None
        )
        return JSONResponse(
            error_body(exc.code, message, exc.details),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        for error in errors:
            if error["type"] == "json_invalid":
                detail = error.get("ctx", {}).get("error", "")
                return JSONResponse(
                    error_body(
                        "invalid_json", f"request body is not valid JSON: {detail}".rstrip(": ")
                    ),
                    status_code=400,
                )
        body_errors = [error for error in errors if tuple(error["loc"]) == ("body",)]
        if body_errors:
            return JSONResponse(
                error_body(
                    "invalid_input",
                    "the request body must be a JSON object with the documented fields",
                ),
                status_code=422,
            )
        fields = [
            {"field": _field_name(tuple(error["loc"])), "message": _field_message(error)}
            for error in errors
        ]
        fields += _intake_workspace_problems(request, exc.body, fields)
        return JSONResponse(
            error_body("invalid_input", fields_message(fields), fields), status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code = {
            404: "not_found",
            405: "method_not_allowed",
            401: "unauthorized",
            403: "forbidden",
        }.get(exc.status_code, "http_error")
        message = str(exc.detail)
        headers = getattr(exc, "headers", None)
        if exc.status_code == 404 and message == "Not Found":
            message = f"no route {request.method} {request.url.path}; the API is described at /docs"
        elif exc.status_code == 405 and headers and "allow" in {key.lower() for key in headers}:
            allowed = next(value for key, value in headers.items() if key.lower() == "allow")
            message = f"{request.method} is not allowed on {request.url.path}; use {allowed}"
        if _wants_html(request):
            if exc.status_code == 404:
                message = "there is no page at this address"
            return html_error(request, exc.status_code, message, headers)
        return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        if (
            exc.connection_invalidated
            or isinstance(exc, OperationalError)
            or is_connection_error(exc)
        ):
            logger.warning("database unavailable: %s", type(exc.orig).__name__ if exc.orig else exc)
            return _database_unavailable(request)
        logger.exception("database error")
        return JSONResponse(error_body("internal_error", "internal error"), status_code=500)

    @app.exception_handler(ConnectionError)
    async def _unreachable(request: Request, exc: ConnectionError) -> Response:
        # The driver raises a refused or reset connection to the database as a bare OS
        # error, outside SQLAlchemy's exception types. Requests make no other outbound
        # connections (webhooks and mail leave from workers), so this is the database.
        logger.warning("database unavailable: %s", type(exc).__name__)
        return _database_unavailable(request)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        # A defect. The caller gets the documented error body, and the server's log gets the
        # traceback because Starlette re-raises after this response is sent.
        if _wants_html(request):
            return html_error(request, 500, "something went wrong on our side; please try again")
        return JSONResponse(error_body("internal_error", "internal error"), status_code=500)


INTAKE_PATH = "/api/v1/requests"
INTAKE_KEY_FIELDS = ("service_type", "contact_method", "priority", "site_address", "phone")


def _intake_workspace_problems(
    request: Request, body: Any, reported: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Check an invalid intake body's workspace keys too, so one response lists every field.

    A field that already has an error keeps only that one. A missing priority is not
    checked, because the workspace's default then applies.
    """
    if request.method != "POST" or request.url.path != INTAKE_PATH or not isinstance(body, dict):
        return []
    values = {
        name: value.strip() if isinstance(value, str) else None
        for name in INTAKE_KEY_FIELDS
        for value in [body.get(name)]
    }
    problems = workspace_problems(
        request.app.state.ctx,
        service_type=values["service_type"],
        contact_method=values["contact_method"],
        priority=values["priority"],
        site_address=values["site_address"],
        phone=values["phone"],
    )
    reported_fields = {problem["field"] for problem in reported}
    return [problem for problem in problems if problem["field"] not in reported_fields]


def _database_unavailable(request: Request) -> Response:
    message = "the database is unavailable; retry shortly"
    headers = {"Retry-After": str(DATABASE_RETRY_AFTER_SECONDS)}
    if _wants_html(request):
        return html_error(request, 503, message, headers)
    return JSONResponse(
        error_body("service_unavailable", message), status_code=503, headers=headers
    )


def is_connection_error(exc: DBAPIError) -> bool:
    # SQLSTATE class 08 is a connection failure, and 57P01-57P03 a server shutting down,
    # crashed or still starting. Drivers without SQLSTATE are judged by their message.
    sqlstate = str(getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", ""))
    if sqlstate.startswith("08") or sqlstate in {"57P01", "57P02", "57P03"}:
        return True
    text = f"{type(exc.orig).__name__} {exc.orig}".lower()
    words = ("connection", "cannot connect", "shutdown", "shutting down", "terminat", "starting up")
    return any(word in text for word in words)
