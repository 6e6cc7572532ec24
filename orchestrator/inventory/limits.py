"""Limits an inventory file must keep before anything is built from it.

A YAML alias is a pointer: ten nested lists of ten aliases each are a few hundred bytes
of text and ten billion values once built ("billion laughs"). We measure what the node
tree would expand to, in time linear in its size, and refuse a file that would build
more values than any real inventory has, before building it. The byte limit keeps the
composer itself (which holds every node) small.

Names also end up in the journal's columns (a run's inventory name, a step's host):
one longer than its column would be refused by PostgreSQL mid-run, after actions had
already been taken, so `dr inventory check` refuses it first.
"""

from __future__ import annotations

from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

# Real inventories are tens of kilobytes; a few megabytes is generous.
MAX_FILE_BYTES = 4 * 1024 * 1024
# Values after every alias is expanded; an inventory of a thousand hosts has far fewer.
MAX_EXPANDED_VALUES = 200_000
# The journal's String(200) columns that hold inventory names (runs.inventory_name,
# steps.host, events.host): see orchestrator/journal/schema.py.
MAX_NAME_LENGTH = 200


class TooLarge(Exception):
    """The node tree expands to more than MAX_EXPANDED_VALUES values."""


def expanded_size(root: Node, limit: int = MAX_EXPANDED_VALUES) -> int:
    """How many values building `root` would make, aliases expanded; raises TooLarge as
    soon as that passes `limit`. Each distinct node is sized once (memoised), so a
    bomb is measured in time proportional to its text, not to its expansion."""
    sizes: dict[int, int] = {}
    # Iterative post-order walk: a deep file must not exhaust Python's stack here.
    stack: list[tuple[Node, bool]] = [(root, False)]
    visiting: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if key in sizes:
            continue
        children = _children(node)
        if not children_done:
            if key in visiting:
                continue  # an alias to an ancestor: the builder reports that loop itself
            visiting.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        visiting.discard(key)
        total = 1 + sum(sizes.get(id(child), 0) for child in children)
        if total > limit:
            raise TooLarge(total)
        sizes[key] = total
    return sizes.get(id(root), 0)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def long_names(data: Any) -> list[tuple[tuple[Any, ...], str]]:
    """(path, message) for each name longer than the journal keeps: the inventory's own
    name and the `name` of every item of every list in it (hosts, pairs, sets, ...)."""
    found: list[tuple[tuple[Any, ...], str]] = []

    def visit(value: Any, path: tuple[Any, ...]) -> None:
        if isinstance(value, dict):
            name = value.get("name")
            if isinstance(name, str) and len(name) > MAX_NAME_LENGTH:
                found.append(((*path, "name"), _too_long(len(name))))
            for key, item in value.items():
                if key != "name":
                    visit(item, (*path, key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                visit(item, (*path, index))

    visit(data, ())
    return found


def _too_long(length: int) -> str:
    return (
        f"a name may be at most {MAX_NAME_LENGTH} characters (the journal keeps no more); "
        f"this one has {length}"
    )
