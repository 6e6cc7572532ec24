"""YAML text -> plain Python data, plus the line each value was written on.

PyYAML's `safe_load` forgets where things were and silently keeps the last of two equal
keys. We compose the node tree instead (nodes carry marks) and build the data ourselves,
recording the line of every key and list item, and reporting duplicate keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from orchestrator.errors import InventoryError, Problem
from orchestrator.inventory.limits import MAX_EXPANDED_VALUES, TooLarge, expanded_size

DataPath = tuple[Any, ...]
"""Keys and list indices from the document's root to a value, e.g. ("hosts", 2, "ssh")."""

_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_KEY = re.compile(r"^[^\W\d][\w-]*$")


@dataclass
class LocatedData:
    """The document's data, the 1-based line of each path, and the faults found building it."""

    data: Any
    lines: dict[DataPath, int] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    # Values already reported as unreadable; validation would only repeat the complaint.
    unreadable: set[DataPath] = field(default_factory=set)

    def line_of(self, path: DataPath) -> int | None:
        """The line of `path`, or of its nearest ancestor written in the file."""
        for end in range(len(path), -1, -1):
            line = self.lines.get(path[:end])
            if line is not None:
                return line
        return None


def parse_yaml(text: str, file: str) -> LocatedData:
    """Parse one YAML document. A syntax error raises InventoryError at once: nothing after
    it can be trusted. Duplicate keys and unusable values are collected and parsing goes on."""
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            return LocatedData(data=None)
        expanded_size(root)
        builder = _Builder(loader, file)
        data = builder.build(root, ())
    except yaml.MarkedYAMLError as err:
        raise InventoryError([_syntax_problem(err, file)]) from None
    except yaml.YAMLError as err:
        # Reader errors (e.g. control characters) carry a position but no mark.
        raise InventoryError(
            [Problem(file, None, "", f"not a readable YAML file: {err}")]
        ) from None
    except TooLarge:
        message = (
            f"the YAML's aliases would expand to more than {MAX_EXPANDED_VALUES} values, "
            "far more than any inventory holds; write the values out instead of nesting aliases"
        )
        raise InventoryError([Problem(file, None, "", message)]) from None
    except RecursionError:
        raise InventoryError(
            [Problem(file, None, "", "the YAML is nested too deeply to be an inventory")]
        ) from None
    finally:
        loader.dispose()
    return LocatedData(data, builder.lines, builder.problems, builder.unreadable)


def _syntax_problem(err: yaml.MarkedYAMLError, file: str) -> Problem:
    mark = err.problem_mark or err.context_mark
    what = err.problem or err.context or "invalid YAML"
    message = f"YAML syntax error: {what}"
    if err.problem and err.context and err.context_mark is not None:
        message += f" ({err.context} at line {err.context_mark.line + 1})"
    if "\\t" in what or "\t" in what:
        message += "; indent with spaces, not tabs"
    elif "<block end>" in what or "mapping values are not allowed" in what:
        message += "; check this line's indentation and any ':' inside unquoted text"
    return Problem(file, mark.line + 1 if mark is not None else None, "", message)


def _line(node: Node) -> int:
    return int(node.start_mark.line) + 1


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self._loader = loader
        self._file = file
        self._open: set[int] = set()  # nodes being built: an alias back to one is a loop
        self.lines: dict[DataPath, int] = {}
        self.problems: list[Problem] = []
        self.unreadable: set[DataPath] = set()

    def _problem(self, node: Node, path: DataPath, message: str) -> None:
        self.problems.append(Problem(self._file, _line(node), render_path(path), message))

    def build(self, node: Node, path: DataPath) -> Any:
        self.lines.setdefault(path, _line(node))
        if id(node) in self._open:
            self._problem(node, path, "a YAML alias refers to the value that contains it")
            return None
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path)
            if isinstance(node, SequenceNode):
                return [self._item(item, path, i) for i, item in enumerate(node.value)]
            return self._scalar(node, path)
        finally:
            self._open.discard(id(node))

    def _item(self, node: Node, path: DataPath, index: int) -> Any:
        self.lines[(*path, index)] = _line(node)
        return self.build(node, (*path, index))

    def _scalar(self, node: Node, path: DataPath) -> Any:
        value = self._construct(node, path)
        return None if value is _UNUSABLE else value

    def _construct(self, node: Node, path: DataPath) -> Any:
        try:
            return self._loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError):
            # e.g. an unknown tag (!secret) or an impossible date (2024-13-45).
            self._problem(node, path, "this value cannot be read (unknown YAML tag or format)")
            self.unreadable.add(path)
            return _UNUSABLE

    def _mapping(self, node: MappingNode, path: DataPath) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        explicit = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        for key_node, value_node in explicit:
            key = self._key(key_node, path)
            if key is _UNUSABLE:
                continue
            key_path = (*path, key)
            if key in result:
                first = self.lines.get(key_path)
                self._problem(
                    key_node,
                    key_path,
                    f"duplicate key {key!r} (first at line {first}); YAML would silently keep "
                    "only the last one; remove or rename one of them",
                )
                continue
            self.lines[key_path] = _line(key_node)
            result[key] = self.build(value_node, key_path)
        # Merged keys (<<: *anchor) fill in only what the mapping does not say itself.
        for key_node, value_node in self._merged_pairs(node, path):
            key = self._key(key_node, path)
            if key is _UNUSABLE or key in result:
                continue
            self.lines[(*path, key)] = _line(key_node)
            result[key] = self.build(value_node, (*path, key))
        return result

    def _merged_pairs(self, node: MappingNode, path: DataPath) -> list[tuple[Node, Node]]:
        pairs: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag != _MERGE_TAG:
                continue
            sources = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
            for source in sources:
                if not isinstance(source, MappingNode):
                    self._problem(value_node, path, "'<<' must merge a mapping or a list of them")
                    continue
                pairs.extend((k, v) for k, v in source.value if k.tag != _MERGE_TAG)
                pairs.extend(self._merged_pairs(source, path))
        return pairs

    def _key(self, key_node: Node, path: DataPath) -> Any:
        if not isinstance(key_node, ScalarNode):
            self._problem(key_node, path, "a key must be plain text, not a list or mapping")
            return _UNUSABLE
        return self._construct(key_node, path)


_UNUSABLE = object()


def render_path(path: DataPath) -> str:
    """A path as operators read it: hosts[2].ssh.port, switches[0].ports["Gi0/1"]."""
    text = ""
    for step in path:
        if isinstance(step, int) and not isinstance(step, bool):
            text += f"[{step}]"
        elif isinstance(step, str) and _PLAIN_KEY.match(step):
            text += f".{step}" if text else step
        else:
            text += f"[{str(step)!r}]"
    return text
