"""Strict YAML loading with line numbers for error messages.

Workspace and scenario files are hand-written, so a duplicate key is an error (PyYAML would
silently keep the last one), and every validation error can point at the line it is on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode


class YamlError(ValueError):
    """The text is not valid YAML, or it repeats a key."""


class StrictLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans: only true and false are booleans.

    YAML 1.1 also reads yes, no, on and off as booleans, which turns a key such as ``on:``
    or the country code ``NO`` into True or False.
    """


StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, pattern) for tag, pattern in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


@dataclass(frozen=True)
class LoadedYaml:
    data: Any
    root: Node | None

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """Return the 1-based line of the value at `path`, or of its deepest existing parent."""
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = child
            line = node.start_mark.line + 1
        return line


def _child(node: Node | None, part: str | int) -> Node | None:
    if isinstance(node, MappingNode) and isinstance(part, str):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == part:
                found: Node = value_node
                return found
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        child: Node = node.value[part]
        return child
    return None


def _check_duplicate_keys(
    node: Node | None, path: tuple[str | int, ...] = (), visited: set[int] | None = None
) -> None:
    """Raise YamlError for the first mapping that repeats a key, naming its path and lines."""
    visited = set() if visited is None else visited
    # An alias reuses a node, and a recursive alias would loop, so each node is checked once.
    if node is None or id(node) in visited:
        return
    visited.add(id(node))
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            child_path = path
            if isinstance(key_node, ScalarNode):
                line = key_node.start_mark.line + 1
                child_path = (*path, key_node.value)
                if key_node.value in seen:
                    raise YamlError(
                        f"{format_path(child_path)}: duplicate key {key_node.value!r} "
                        f"(first defined on line {seen[key_node.value]}); keep only one "
                        f"(line {line})"
                    )
                seen[key_node.value] = line
            _check_duplicate_keys(value_node, child_path, visited)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check_duplicate_keys(item, (*path, index), visited)


def load_yaml(text: str) -> LoadedYaml:
    """Parse one YAML document with `StrictLoader`, rejecting duplicate keys."""
    try:
        root = yaml.compose(text, Loader=StrictLoader)
        _check_duplicate_keys(root)
        data = yaml.load(text, Loader=StrictLoader)  # noqa: S506 - StrictLoader is a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise YamlError(f"{where}invalid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise YamlError(f"invalid YAML: {exc}") from exc
    return LoadedYaml(data=data, root=root)


def format_path(path: Sequence[str | int]) -> str:
    """Render ("sla_policies", 1, "targets") as ``sla_policies[1].targets``."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"
