"""The workspace reference in docs/workspace.md stays true: its snippets and outputs are real.

Every YAML snippet must load when merged into the example workspace, and the walk-through
of `opsdesk config check` must print exactly the messages the page shows, including each
row of its table of single edits.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner
from workspace_texts import ROOT, TECHNICAL_SERVICES

from opsdesk.cli import app
from opsdesk.errors import WorkspaceError
from opsdesk.events.catalog import EVENT_TYPES
from opsdesk.workspace import parse_workspace
from opsdesk.yamlio import load_yaml

PAGE = ROOT / "docs" / "workspace.md"
# Values for the ${VARIABLE} references in the snippets; the walk-through sets none.
SNIPPET_ENVIRON = {
    "SLACK_WEBHOOK_URL": "https://hooks.example.com/services/T000/B000/XXXX",
    "ERP_WEBHOOK_URL": "https://erp.example.com/hooks/opsdesk",
    "ERP_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "OPSDESK_WEBHOOK_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
}


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """Return (language, body) for each fenced block, in page order."""
    return re.findall(r"^```(\w*)\n(.*?)^```$", text, re.S | re.M)


PAGE_TEXT = PAGE.read_text(encoding="utf-8")
BLOCKS = fenced_blocks(PAGE_TEXT)
# The walk-through starts from the first snippet whose check prints errors.
WALK_INDEX = next(
    index
    for index, (language, body) in enumerate(BLOCKS)
    if language == "console" and "error(s):" in body
)
BROKEN_FILE = BLOCKS[WALK_INDEX - 1][1]
SNIPPETS = [body for language, body in BLOCKS[: WALK_INDEX - 1] if language == "yaml"]


def merge_into_example(snippet: dict[str, object]) -> dict[str, object]:
    """Return the example workspace with the snippet's sections merged in.

    Lists of keyed items replace the example's items of the same key and add the rest;
    mappings are merged key by key; anything else replaces the example's value.
    """
    merged = copy.deepcopy(load_yaml(TECHNICAL_SERVICES.read_text(encoding="utf-8")).data)
    for section, value in snippet.items():
        current = merged.get(section)
        if isinstance(value, list) and isinstance(current, list):
            keys = {item.get("key") for item in value if isinstance(item, dict)}
            kept = [
                item for item in current if not (isinstance(item, dict) and item.get("key") in keys)
            ]
            merged[section] = kept + value
        elif isinstance(value, dict) and isinstance(current, dict):
            merged[section] = {**current, **value}
        else:
            merged[section] = value
    return merged


def test_the_page_has_snippets_and_a_walk_through() -> None:
    assert len(SNIPPETS) >= 10
    assert "4hours" in BROKEN_FILE


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_snippet_loads_in_the_example_workspace(index: int) -> None:
    snippet = load_yaml(SNIPPETS[index]).data
    assert isinstance(snippet, dict)
    merged = merge_into_example(snippet)
    if set(snippet) == {"when"}:
        # A policy condition shown on its own: give it to the example's first policy.
        del merged["when"]
        policies = merged["sla_policies"]
        assert isinstance(policies, list)
        policies[0]["when"] = snippet["when"]

    try:
        parse_workspace(yaml.safe_dump(merged), environ=SNIPPET_ENVIRON)
    except WorkspaceError as exc:
        pytest.fail(f"snippet {index + 1} of {PAGE.name} does not load:\n{exc}")


def console_output(block: str) -> list[str]:
    """Return the lines a documented `opsdesk config check` printed, without the prompt."""
    lines = block.splitlines()
    assert lines[0] == "$ opsdesk config check desk.yaml"
    return [line for line in lines[1:] if not line.startswith("$") and line != "2"]


def check(folder: Path, text: str) -> tuple[int, list[str]]:
    (folder / "desk.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "check", "desk.yaml"], env={"ALERTS_URL": None})
    return result.exit_code, result.output.splitlines()


def walk_steps() -> list[str]:
    """Return the valid file of the walk-through, after each documented fix."""
    first = (
        BROKEN_FILE.replace("key: Urgent", "key: urgent")
        .replace("    colour: red\n", "")
        .replace("resolution: 4hours", "resolution: 24h")
        .replace("url: ${ALERTS_URL}", "url: ${ALERTS_URL:-}")
    )
    second = first.replace('["11:00", "17:00"]', '["13:00", "17:00"]').replace(
        "      normal: {first_response: PT4H, resolution: 24h}\n",
        "      normal: {first_response: PT4H, resolution: 24h}\n"
        "      urgent: {first_response: PT1H, resolution: PT8H}\n",
    )
    return [BROKEN_FILE, first, second]


def test_walk_through_prints_what_the_page_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    outputs = [body for language, body in BLOCKS[WALK_INDEX:] if language == "console"][:3]

    for text, documented in zip(walk_steps(), outputs, strict=True):
        code, printed = check(tmp_path, text)
        assert printed == console_output(documented)
        assert code == (0 if "valid." in documented else 2)


# The edit column of the page's table, as the text each edit replaces in the valid file.
TABLE_EDITS: dict[str, tuple[str, str]] = {
    "`timezone: Mars/Olympus`": ("timezone: Europe/Berlin", "timezone: Mars/Olympus"),
    'add `tue: [["18:00", "08:00"]]`': (
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n',
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n      tue: [["18:00", "08:00"]]\n',
    ),
    'add `wed: [["08:00", "25:00"]]`': (
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n',
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n      wed: [["08:00", "25:00"]]\n',
    ),
    "add `holidays: [{country: XX}]`": (
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n',
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n    holidays: [{country: XX}]\n',
    ),
    "`resolution: P2D`": ("resolution: 40h", "resolution: P2D"),
    "a second priority with `key: low`": (
        "  - {key: urgent, name: Urgent}\n",
        "  - {key: urgent, name: Urgent}\n  - {key: low, name: Lower}\n",
    ),
    "a second `mon:` in `hours`": (
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n',
        '      mon: [["08:00", "12:00"], ["13:00", "17:00"]]\n      mon: [["09:00", "17:00"]]\n',
    ),
    "`team: field` in the pipeline, no `teams`": (
        "    name: Repairs\n",
        "    name: Repairs\n    team: field\n",
    ),
    "`when: {priority: urgent}` on the only policy": (
        "    name: Standard\n",
        "    name: Standard\n    when: {priority: urgent}\n",
    ),
    "no `completes: true`": (", completes: true}", "}"),
    "`pause_on: [on_hold]`": (
        "    name: Standard\n",
        "    name: Standard\n    pause_on: [on_hold]\n",
    ),
    "`kind: slack` with a `secret`": (
        "    url: ${ALERTS_URL:-}\n",
        "    kind: slack\n"
        "    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n"
        "    url: ${ALERTS_URL:-}\n",
    ),
    "`secret: hunter2`": (
        "    url: ${ALERTS_URL:-}\n",
        "    secret: hunter2\n    url: ${ALERTS_URL:-}\n",
    ),
    "`events: [sla.breached, ticket.exploded]`": (
        "events: [sla.breached]",
        "events: [sla.breached, ticket.exploded]",
    ),
    "`name: [Example desk`": ("name: Example desk", "name: [Example desk"),
}


def table_rows() -> list[tuple[str, str]]:
    """Return (edit, message) for each row of the table of single edits."""
    start = PAGE_TEXT.index("| edit | message |")
    rows = []
    for line in PAGE_TEXT[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        edit, message = (cell.strip() for cell in line.strip("|").split(" | ", 1))
        rows.append((edit, message))
    return rows


def test_every_event_type_is_listed() -> None:
    section = PAGE_TEXT[PAGE_TEXT.index("Event types:") :]
    listed = section[: section.index("\n\n")]

    assert [name for name in EVENT_TYPES if f"`{name}`" not in listed] == []


def test_every_table_row_has_an_edit() -> None:
    assert [edit for edit, _ in table_rows()] == list(TABLE_EDITS)


@pytest.mark.parametrize(("edit", "message"), table_rows(), ids=[edit for edit, _ in table_rows()])
def test_table_row_is_the_real_message(
    edit: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    old, new = TABLE_EDITS[edit]
    valid = walk_steps()[-1]
    assert old in valid, f"the edit {edit} no longer applies to the walk-through's file"
    documented = re.match(r"`(.*)`", message)
    assert documented is not None

    code, printed = check(tmp_path, valid.replace(old, new, 1))

    assert code == 2
    assert printed[0] in ("desk.yaml has 1 error(s):", f"desk.yaml: {documented.group(1)}")
    assert documented.group(1) in [line.strip() for line in printed]
