"""Where an inventory item is written: FILE:LINE for a model object and one of its fields.

The loaded `Inventory` keeps no line numbers (its models are plain values), so a plan
that finds a field missing reads the file once more with `parse_yaml`, which records the
line of every key, and finds the object's place among the inventory's lists by identity.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from orchestrator.errors import Problem
from orchestrator.inventory.yaml_lines import DataPath, LocatedData, parse_yaml, render_path

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory


class InventoryPlaces:
    """FILE:LINE of the places of one loaded inventory."""

    def __init__(self, inventory: Inventory) -> None:
        self.inventory = inventory
        source = inventory.source_path
        self.file = str(source) if source is not None else f"<inventory {inventory.name}>"
        self._located: LocatedData | None = None
        if source is not None:
            try:
                self._located = parse_yaml(source.read_text(encoding="utf-8-sig"), self.file)
            except (OSError, UnicodeDecodeError):
                # Loaded a moment ago; if it cannot be read again, problems go without a line.
                self._located = None

    def line(self, path: DataPath) -> int | None:
        """The line of `path` or of its nearest ancestor written in the file."""
        return self._located.line_of(path) if self._located is not None else None

    def path_of(self, item: BaseModel) -> DataPath | None:
        """Where `item` (a host, line, switch, UPS, ...) sits in the inventory, by identity."""
        for path, value in _walk(self.inventory, ()):
            if value is item:
                return path
        return None

    def problem(self, path: DataPath, message: str) -> Problem:
        return Problem(self.file, self.line(path), render_path(path), message)

    def field_problem(self, item: BaseModel, field: str, message: str) -> Problem:
        """A problem at `item.field`; the line is the field's, else the item's own."""
        base = self.path_of(item)
        path: DataPath = (*base, field) if base is not None else (field,)
        return self.problem(path, message)


def _walk(value: Any, path: DataPath) -> Iterator[tuple[DataPath, Any]]:
    """Every model object below `value`, with its path; lists and models only (the
    inventory's items all live in lists of models)."""
    if isinstance(value, BaseModel):
        yield path, value
        for name in type(value).model_fields:
            child = getattr(value, name)
            if isinstance(child, (BaseModel, list)):
                yield from _walk(child, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, (*path, index))
