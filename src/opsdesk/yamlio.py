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
    """The text is not valid YAML, repeats a key, or has an alias inside its own block."""


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
        """Return the 1-based line of the item at `path`, or of its deepest existing parent.

        The line of a mapping entry is the line of its key, because a block value such as a
        list of stages starts on the line after it.
        """
        node = self.root
        line = node.start_mark.line + 1 if node is not None else None
        for part in path:
            found = _child(node, part)
            if found is None:
                break
            line_node, node = found
            line = line_node.start_mark.line + 1
        return line


def _child(node: Node | None, part: str | int) -> tuple[Node, Node] | None:
    """Return the node that marks the line of `part` (its key, or the item) and its value."""
    if isinstance(node, MappingNode) and isinstance(part, str):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.value == part:
                return key_node, value_node
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: Node = node.value[part]
        return item, item
    return None


def _check_nodes(
    node: Node | None,
    path: tuple[str | int, ...] = (),
    checked: set[int] | None = None,
    enclosing: set[int] | None = None,
) -> None:
    """Raise YamlError for a mapping that repeats a key, or an alias that contains itself.

    `checked` contains the nodes already checked, because an alias reuses a node, and
    `enclosing` the mappings and lists that contain `node`.
    """
    checked = set() if checked is None else checked
    enclosing = set() if enclosing is None else enclosing
    if node is None or id(node) in checked:
        return
    if id(node) in enclosing:
        # Such data cannot be validated or substituted without looping forever.
        raise YamlError(
            f"{format_path(path)}: the alias refers to a mapping or list that contains it; "
            f"write the value out (line {node.start_mark.line + 1})"
        )
    enclosing.add(id(node))
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
            _check_nodes(value_node, child_path, checked, enclosing)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            _check_nodes(item, (*path, index), checked, enclosing)
    enclosing.discard(id(node))
    checked.add(id(node))


def load_yaml(text: str) -> LoadedYaml:
    """Parse one YAML document with `StrictLoader`, rejecting duplicate keys and recursion."""
    try:
        root = yaml.compose(text, Loader=StrictLoader)
        _check_nodes(root)
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
