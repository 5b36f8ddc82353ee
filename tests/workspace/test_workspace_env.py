"""Substitution of ${VAR} and ${VAR:-default} in workspace values."""

from __future__ import annotations

import pytest
from workspace_texts import VALID, edit, line_with, load, problems_of

from opsdesk.workspace import parse_workspace

HOOK = "url: https://hooks.example.com/opsdesk"


def with_url(value: str) -> str:
    return edit(VALID, HOOK, f"url: {value}")


def test_variable_replaced() -> None:
    workspace = load(with_url("${HOOK_URL}"), {"HOOK_URL": "https://receiver.example.com/in"})

    assert str(workspace.spec.subscriptions[0].url) == "https://receiver.example.com/in"


def test_default_used_when_unset() -> None:
    workspace = load(with_url("${HOOK_URL:-https://fallback.example.com/in}"))

    assert str(workspace.spec.subscriptions[0].url) == "https://fallback.example.com/in"


def test_set_variable_wins_over_default() -> None:
    text = with_url("${HOOK_URL:-https://fallback.example.com/in}")

    workspace = load(text, {"HOOK_URL": "https://receiver.example.com/in"})

    assert str(workspace.spec.subscriptions[0].url) == "https://receiver.example.com/in"


def test_empty_default_leaves_url_absent() -> None:
    workspace = load(with_url("${HOOK_URL:-}"))

    assert workspace.spec.subscriptions[0].url is None


def test_variable_set_to_empty_leaves_url_absent() -> None:
    workspace = load(with_url("${HOOK_URL}"), {"HOOK_URL": ""})

    assert workspace.spec.subscriptions[0].url is None


def test_several_variables_in_one_value() -> None:
    text = with_url("https://${HOOK_HOST}:${HOOK_PORT:-8443}/in")

    workspace = load(text, {"HOOK_HOST": "receiver.example.com"})

    assert str(workspace.spec.subscriptions[0].url) == "https://receiver.example.com:8443/in"


def test_secret_from_variable() -> None:
    text = edit(VALID, "secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret: ${HOOK_SECRET}")
    secret = "whsec_" + "A" * 32

    workspace = load(text, {"HOOK_SECRET": secret})

    assert workspace.spec.subscriptions[0].secret == secret


def test_substituted_value_is_validated() -> None:
    text = with_url("${HOOK_URL}")

    problems = problems_of(text, {"HOOK_URL": "not a url"})

    assert len(problems) == 1
    assert problems[0].startswith("subscriptions[0].url: input should be a valid URL")
    assert problems[0].endswith(f"(line {line_with(text, 'HOOK_URL')})")


def test_variable_outside_subscriptions() -> None:
    text = edit(VALID, "name: Test desk", "name: ${DESK_NAME:-Service desk}")

    assert load(text).name == "Service desk"


@pytest.mark.parametrize("value", ["$HOOK_URL", "${1HOOK}", "${HOOK-URL}"])
def test_other_dollar_forms_kept_as_written(value: str) -> None:
    text = edit(VALID, "name: Test desk", f'name: "{value}"')

    assert load(text, {"HOOK_URL": "replaced"}).name == value


def test_each_unset_variable_reported() -> None:
    text = with_url("https://${HOOK_HOST}/${HOOK_PATH}")

    problems = problems_of(text)

    line = line_with(text, "HOOK_HOST")
    assert problems == [
        "subscriptions[0].url: environment variable HOOK_HOST is not set; "
        f"set it or write ${{HOOK_HOST:-default}} (line {line})",
        "subscriptions[0].url: environment variable HOOK_PATH is not set; "
        f"set it or write ${{HOOK_PATH:-default}} (line {line})",
    ]


def test_process_environment_used_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPSDESK_TEST_HOOK_URL", "https://receiver.example.com/env")
    text = with_url("${OPSDESK_TEST_HOOK_URL}")

    workspace = parse_workspace(text)

    assert str(workspace.spec.subscriptions[0].url) == "https://receiver.example.com/env"
