"""The mail section of the workspace file: templates are checked at load, naming the path."""

from __future__ import annotations

import pytest
from workspace_texts import VALID, line_with, load, problem_starting, problems_of

MAIL = """
mail:
  templates:
    resolved:
      subject: "[{{ reference }}] Done: {{ topic }}"
      body: |
        Hello {{ requester_name }},
        {{ reference }} is {{ status }} (was {{ previous_status }}).
    acknowledgement:
      enabled: false
"""


def with_mail(section: str) -> str:
    return VALID + section


def test_mail_templates_load() -> None:
    workspace = load(with_mail(MAIL))

    templates = workspace.spec.mail.templates
    assert templates["resolved"].subject == "[{{ reference }}] Done: {{ topic }}"
    assert templates["resolved"].body is not None
    assert templates["resolved"].enabled is True
    assert templates["acknowledgement"].enabled is False
    assert templates["acknowledgement"].subject is None


def test_mail_section_optional() -> None:
    assert load(VALID).spec.mail.templates == {}


@pytest.mark.parametrize(
    ("template", "prefix", "line_fragment"),
    [
        (
            "    resolvd:\n      subject: '[{{ reference }}] Done'\n",
            "mail.templates.resolvd: unknown mail kind 'resolvd'; expected one of "
            "acknowledgement, agent_reply, resolved, waiting_on_customer, reopened",
            "resolvd:",
        ),
        (
            "    resolved:\n      body: 'Hello {{ requester_name }'\n",
            "mail.templates.resolved.body: syntax error on line 1 of the template: unexpected '}'",
            "body:",
        ),
        (
            "    reopened:\n      body: 'Hello {{ customer_name }}'\n",
            "mail.templates.reopened.body: rendering failed: UndefinedError: "
            "'customer_name' is undefined; a mail template can use reference, subject",
            "body:",
        ),
        (
            "    reopened:\n      body: '{{ subject.__class__.__mro__ }}'\n",
            "mail.templates.reopened.body: rendering failed: SecurityError",
            "body:",
        ),
        (
            "    waiting_on_customer:\n      subject: 'We need your reply'\n",
            "mail.templates.waiting_on_customer.subject: the subject does not contain the "
            "ticket reference; include [{{ reference }}]",
            "subject:",
        ),
        (
            "    agent_reply:\n      subject: '{{ \"\" }}'\n",
            "mail.templates.agent_reply.subject: the subject renders empty",
            "subject:",
        ),
        (
            "    agent_reply:\n      body: '{% if false %}x{% endif %}'\n",
            "mail.templates.agent_reply.body: the body renders empty",
            "body:",
        ),
        (
            "    resolved:\n      subject: ''\n",
            "mail.templates.resolved.subject: string should have at least 1 character",
            "subject:",
        ),
        (
            "    resolved:\n      footer: 'Thanks'\n",
            "mail.templates.resolved.footer: unknown key",
            "footer:",
        ),
    ],
)
def test_invalid_template_names_path(template: str, prefix: str, line_fragment: str) -> None:
    text = with_mail("\nmail:\n  templates:\n" + template)

    problem = problem_starting(problems_of(text), prefix)

    assert problem.endswith(f"(line {line_with(text, line_fragment)})")


def test_template_errors_reported_together() -> None:
    text = with_mail(
        "\nmail:\n  templates:\n"
        "    resolved:\n      subject: 'Done'\n      body: '{{ nope }}'\n"
        "    reopened:\n      body: '{% for %}'\n"
    )

    problems = problems_of(text)

    assert [problem.split(":", 1)[0] for problem in problems] == [
        "mail.templates.resolved.subject",
        "mail.templates.resolved.body",
        "mail.templates.reopened.body",
    ]
