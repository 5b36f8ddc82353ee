"""Form fields of the webhook subscription pages: parsing, showing back, and error messages.

The console sends what it parses to the same service functions as the API, which check
every value. This module only turns text areas into the shapes those functions take
and turns their errors into one message per form field.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from opsdesk.errors import InvalidInput, OpsdeskError
from opsdesk.webhooks.headers import is_sensitive, mask_value
from opsdesk.yamlio import YamlError, load_yaml

FIELD_HINTS = {
    "url": "invalid URL; use an http or https address such as https://example.com/hooks/opsdesk",
    "kind": "choose webhook or slack",
    "event_types": "choose at least one event type, or all events",
    "description": "too long: at most 500 characters",
}
# Above every limit the service checks (a 20,000-character template, 20 headers of up to
# 2,100 characters), so the service's message names the limit instead of a generic 422.
OPTION_FORM_CHARS = 100_000


def parse_headers_text(text: str) -> dict[str, str] | None:
    """Read one ``Name: value`` header per line; return None when there is none.

    Raise InvalidInput naming the line that has no colon or repeats a name.
    """
    headers: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        name = name.strip()
        if not colon or not name:
            raise InvalidInput(
                f"line {number} of the headers is not a header; write one Name: value per line",
                details=[{"field": "headers", "message": f"line {number} has no Name: value"}],
            )
        if name.lower() in {known.lower() for known in headers}:
            raise InvalidInput(
                f"line {number} repeats the header {name}; give each header once",
                details=[{"field": "headers", "message": f"{name} given twice"}],
            )
        headers[name] = value.strip()
    return headers or None


def parse_conditions_text(text: str) -> dict[str, Any] | None:
    """Read a condition written as JSON or YAML; return None for an empty field."""
    if not text.strip():
        return None
    try:
        value = load_yaml(text).data
    except YamlError as exc:
        raise InvalidInput(
            f"the conditions are not valid JSON or YAML: {exc}",
            details=[{"field": "conditions", "message": str(exc)}],
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput(
            'the conditions must be an object such as {"field": "priority", "equals": "high"}',
            details=[{"field": "conditions", "message": "not an object"}],
        )
    return value


def headers_text(headers: dict[str, str] | None) -> str:
    """Show stored headers one per line by name, with secret-looking values masked.

    They are sorted because PostgreSQL's JSONB does not keep the order they were given in.
    """
    return "\n".join(
        f"{name}: {mask_value(name, value)}" for name, value in sorted((headers or {}).items())
    )


def conditions_text(conditions: dict[str, Any] | None) -> str:
    return json.dumps(conditions, indent=2) if conditions else ""


def keep_masked_headers(
    submitted: dict[str, str] | None, stored: dict[str, str] | None
) -> dict[str, str] | None:
    """Replace each value the form showed masked and got back unchanged by the stored value.

    The settings form never contains a secret header value, so saving the form without
    touching such a header keeps its value instead of storing the mask.
    """
    if submitted is None or not stored:
        return submitted
    kept: dict[str, str] = {}
    for name, value in submitted.items():
        current = stored.get(name.lower())
        if current is not None and is_sensitive(name) and value == mask_value(name, current):
            kept[name] = current
        else:
            kept[name] = value
    return kept


def _sentence(text: str) -> str:
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else f"{text}."


def service_errors(exc: OpsdeskError) -> dict[str, str]:
    """Map a service error to form fields, such as ``conditions.all.0.equals`` to conditions.

    An error about one field keeps its full message. Where the details name paths inside
    a field, each detail becomes a sentence that ends with its path.
    """
    fields: dict[str, list[dict[str, Any]]] = {}
    for item in exc.details:
        if "field" in item:
            fields.setdefault(str(item["field"]).split(".", 1)[0], []).append(item)
    if not fields:
        return {"form": exc.message}
    # Errors on several fields, such as every field of a workspace subscription, also get
    # the whole message at the top of the form, because it states what to do next.
    errors: dict[str, str] = {"form": exc.message} if len(fields) > 1 else {}
    for field, items in fields.items():
        if len(fields) == 1 and all(str(item["field"]) == field for item in items):
            errors[field] = exc.message
            continue
        errors[field] = " ".join(
            _sentence(
                str(item["message"])
                if item["field"] == field
                else f"{item['message']} (at {item['field']})"
            )
            for item in items
        )
    return errors


def validation_errors(exc: ValidationError) -> dict[str, str]:
    """Map a schema validation error to form fields, with a hint for the simple fields."""
    errors: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        errors.setdefault(field, FIELD_HINTS.get(field, str(error["msg"])))
    return errors
