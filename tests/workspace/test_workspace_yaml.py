"""Strict YAML reading: YAML 1.2 booleans, duplicate keys, line numbers and paths."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from workspace_texts import VALID, edit, line_with, load, problems_of

from opsdesk.yamlio import YamlError, format_path, load_yaml


@pytest.mark.parametrize("word", ["on", "off", "yes", "no", "y", "n", "NO", "Yes", "OFF"])
def test_yaml_11_boolean_words_stay_strings(word: str) -> None:
    loaded = load_yaml(f"{word}: {word}\n")

    assert loaded.data == {word: word}


@pytest.mark.parametrize(
    ("word", "value"), [("true", True), ("False", False), ("TRUE", True), ("false", False)]
)
def test_true_and_false_are_booleans(word: str, value: bool) -> None:
    assert load_yaml(f"flag: {word}\n").data == {"flag": value}


def test_on_key_of_escalation_is_string() -> None:
    workspace = load(VALID)

    assert workspace.spec.escalations[0].on == "breach"


def test_country_no_is_norway() -> None:
    text = edit(VALID, "{country: DE, subdivision: BY}", "{country: NO}")

    office = load(text).calendar("office")
    berlin = ZoneInfo("Europe/Berlin")
    constitution_day = datetime(2030, 5, 17, tzinfo=berlin)
    next_friday = datetime(2030, 5, 24, tzinfo=berlin)

    # 17 May is Norway's Constitution Day; in 2030 it is a Friday, a working day here.
    assert constitution_day.weekday() == 4
    assert office.between(constitution_day, constitution_day + timedelta(days=1)) == timedelta(0)
    assert office.between(next_friday, next_friday + timedelta(days=1)) == timedelta(hours=16)


def test_unquoted_date_is_a_date() -> None:
    assert load_yaml("day: 2030-05-01\n").data == {"day": date(2030, 5, 1)}


def test_duplicate_key_names_path_and_lines() -> None:
    text = "a:\n  b:\n    - {c: 1}\n    - {c: 1, c: 2}\n"

    with pytest.raises(YamlError) as caught:
        load_yaml(text)

    assert str(caught.value) == (
        "a.b[1].c: duplicate key 'c' (first defined on line 4); keep only one (line 4)"
    )


def test_duplicate_top_level_key() -> None:
    text = "name: One\nteams: []\nname: Two\n"

    with pytest.raises(YamlError) as caught:
        load_yaml(text)

    assert str(caught.value) == (
        "name: duplicate key 'name' (first defined on line 1); keep only one (line 3)"
    )


def test_duplicate_key_in_workspace_file() -> None:
    text = edit(VALID, "    name: Standard\n", "    name: Standard\n    name: Default\n")

    problems = problems_of(text)

    assert problems == [
        "sla_policies[1].name: duplicate key 'name' (first defined on line "
        f"{line_with(text, 'name: Standard')}); keep only one "
        f"(line {line_with(text, 'name: Default')})"
    ]


def test_recursive_alias_rejected() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml("a:\n  b: &x [1, *x]\n")

    assert str(caught.value) == (
        "a.b[1]: the alias refers to a mapping or list that contains it; "
        "write the value out (line 2)"
    )


def test_reused_alias_accepted() -> None:
    loaded = load_yaml("a: &x {b: 1}\nc: [*x, *x]\n")

    assert loaded.data == {"a": {"b": 1}, "c": [{"b": 1}, {"b": 1}]}


def test_recursive_alias_in_workspace_file() -> None:
    text = edit(VALID, "name: Test desk", "name: &desk [*desk]")

    assert problems_of(text) == [
        "name[0]: the alias refers to a mapping or list that contains it; "
        "write the value out (line 1)"
    ]


def test_syntax_error_names_line_and_column() -> None:
    with pytest.raises(YamlError) as caught:
        load_yaml("a: 1\nb: [2, 3\n")

    assert str(caught.value).startswith("line 3, column 1: invalid YAML: ")


def test_line_of_mapping_entry_is_key_line() -> None:
    loaded = load_yaml("a:\n  b:\n    - x\n    - y\n")

    assert loaded.line_of(("a",)) == 1
    assert loaded.line_of(("a", "b")) == 2
    assert loaded.line_of(("a", "b", 1)) == 4


def test_line_of_missing_part_is_parent_line() -> None:
    loaded = load_yaml("a:\n  b: 1\nc:\n  - {d: 2}\n")

    assert loaded.line_of(("c", 0, "missing")) == 4
    assert loaded.line_of(("c", 5)) == 3
    assert loaded.line_of(()) == 1


def test_line_of_empty_document() -> None:
    assert load_yaml("").line_of(("a",)) is None


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("sla_policies", 1, "targets", "urgent"), "sla_policies[1].targets.urgent"),
        (("calendars", "office", "hours", "mon", 0, 1), "calendars.office.hours.mon[0][1]"),
        ((), "(top level)"),
    ],
)
def test_format_path(path: tuple[str | int, ...], text: str) -> None:
    assert format_path(path) == text
