"""Subjects and bodies of the mail sent to requesters, rendered from Jinja2 templates.

Each kind of mail has a built-in subject (below) and body (a file in
``opsdesk/mail/templates``). A workspace file may replace either under
``mail.templates.<kind>``. The loader checks those with `check_mail_template`, so a
template that does not compile or names an unknown variable stops the workspace from
loading, instead of failing when a mail is due.

Every template runs in Jinja2's immutable sandbox, which refuses private attributes and
methods that change data, with StrictUndefined, which makes an unknown variable an error.
Autoescaping is off because the mail is plain text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, get_args

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

logger = logging.getLogger(__name__)

MailKind = Literal["acknowledgement", "agent_reply", "resolved", "waiting_on_customer", "reopened"]
MAIL_KINDS: tuple[str, ...] = get_args(MailKind)
ACKNOWLEDGEMENT = "acknowledgement"
AGENT_REPLY = "agent_reply"
RESOLVED = "resolved"
WAITING_ON_CUSTOMER = "waiting_on_customer"
REOPENED = "reopened"
STATUS_KINDS = frozenset({RESOLVED, WAITING_ON_CUSTOMER, REOPENED})

TEMPLATES = Path(__file__).parent / "templates"
BODY_FILES = {
    ACKNOWLEDGEMENT: "ticket_created.txt",
    AGENT_REPLY: "ticket_replied.txt",
    RESOLVED: "ticket_resolved.txt",
    WAITING_ON_CUSTOMER: "ticket_waiting_on_customer.txt",
    REOPENED: "ticket_reopened.txt",
}
DEFAULT_SUBJECTS = {
    ACKNOWLEDGEMENT: "[{{ reference }}] {{ topic }}",
    AGENT_REPLY: "Re: [{{ reference }}] {{ topic }}",
    RESOLVED: "[{{ reference }}] Resolved: {{ topic }}",
    WAITING_ON_CUSTOMER: "[{{ reference }}] Your reply is needed: {{ topic }}",
    REOPENED: "[{{ reference }}] Reopened: {{ topic }}",
}
TEMPLATE_VARIABLES: dict[str, str] = {
    "reference": "the ticket reference, such as SR-000123",
    "subject": "the ticket's subject as the requester wrote it",
    "topic": 'the subject without leading "Re:" and "Fwd:", or "your request" when empty',
    "requester_name": "the requester's name",
    "workspace_name": "the name of the desk, from the workspace file",
    "body": "the agent's reply (agent_reply only; empty for the other kinds)",
    "status": "the ticket's new status key, such as resolved (status mails only)",
    "previous_status": "the status before the change (status mails only)",
}
_REPLY_PREFIXES = re.compile(r"^(?:\s*(?:re|aw|sv|fwd?|wg|tr)\s*:\s*)+", re.IGNORECASE)
_WHITESPACE = re.compile(r"\s+")

_environment = ImmutableSandboxedEnvironment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=False,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


class MailTemplateFault(Exception):
    """A mail template failed to compile or render, or rendered an unusable subject."""


def topic_of(ticket_subject: str) -> str:
    return _REPLY_PREFIXES.sub("", ticket_subject).strip() or "your request"


def sample_context(reference_prefix: str) -> dict[str, Any]:
    """Return made-up values for every template variable, to check a template against."""
    subject = "Inverter beeps and shuts down"
    return {
        "reference": f"{reference_prefix}-000001",
        "subject": subject,
        "topic": topic_of(subject),
        "requester_name": "Ada Obi",
        "workspace_name": "Brightline Technical Services",
        "body": "We can come on Tuesday between 10:00 and 12:00.",
        "status": RESOLVED,
        "previous_status": "open",
    }


@lru_cache(maxsize=64)
def _compile(source: str) -> Template:
    try:
        return _environment.from_string(source)
    except TemplateSyntaxError as exc:
        raise MailTemplateFault(
            f"syntax error on line {exc.lineno} of the template: {exc.message}"
        ) from exc


def _render(template: Template, context: Mapping[str, Any]) -> str:
    # NOTE: nothing bounds rendering time. The sandbox caps each range() at 100,000 items,
    # but nested loops can still keep a worker busy; only the workspace file sets templates.
    try:
        return template.render(**context)
    # A workspace template is code the desk's admins wrote, so any error it raises (an
    # unknown variable, a sandbox refusal, a failing filter) is the template's fault.
    except Exception as exc:
        names = ", ".join(TEMPLATE_VARIABLES)
        raise MailTemplateFault(
            f"rendering failed: {type(exc).__name__}: {exc}; a mail template can use {names}"
        ) from exc


def _subject_line(text: str) -> str:
    """Fold the rendered subject onto one line, as a mail header needs."""
    return _WHITESPACE.sub(" ", text).strip()


def check_mail_template(part: str, source: str, *, reference_prefix: str) -> None:
    """Compile the `part` ("subject" or "body") template and render it with sample values.

    Raise MailTemplateFault when it fails or renders something unusable.

    A subject must also contain the ticket reference, because the e-mail intake threads a
    reply by it when the customer's mail program leaves out In-Reply-To and References.
    """
    context = sample_context(reference_prefix)
    rendered = _render(_compile(source), context)
    if part == "body":
        if not rendered.strip():
            raise MailTemplateFault("the body renders empty; write the text of the mail")
        return
    subject = _subject_line(rendered)
    if not subject:
        raise MailTemplateFault("the subject renders empty; write a subject line")
    if context["reference"] not in subject:
        raise MailTemplateFault(
            "the subject does not contain the ticket reference; include [{{ reference }}] "
            "so replies thread onto the ticket"
        )


def render_mail(
    kind: str,
    context: Mapping[str, Any],
    *,
    subject_source: str | None = None,
    body_source: str | None = None,
) -> tuple[str, str]:
    """Return the subject and body of a mail of `kind`, from the given or built-in templates.

    A given template that fails with this ticket's values is replaced by the built-in
    one and the failure is logged, so the requester still gets the mail. The subject
    always contains the reference: it is put in front when a template left it out.
    """
    subject = _render_part(kind, "subject", subject_source, DEFAULT_SUBJECTS[kind], context)
    subject = _subject_line(subject)
    reference = str(context["reference"])
    if reference not in subject:
        subject = f"[{reference}] {subject}".strip()
    body = _render_part(kind, "body", body_source, None, context)
    return subject, body


def _render_part(
    kind: str, part: str, source: str | None, built_in: str | None, context: Mapping[str, Any]
) -> str:
    if source is not None:
        try:
            return _render(_compile(source), context)
        except MailTemplateFault as exc:
            logger.error(
                "the workspace's %s template of %s mail for %s failed, so the built-in one "
                "is used: %s",
                part,
                kind,
                context.get("reference"),
                exc,
            )
    if built_in is not None:
        return _render(_compile(built_in), context)
    return _render(_environment.get_template(BODY_FILES[kind]), context)
