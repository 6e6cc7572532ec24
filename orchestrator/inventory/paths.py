"""Paths written in an inventory are relative to the inventory file, not to the shell's cwd.

An operator runs `dr` from wherever they are at 3 a.m.; `key_file: keys/dc-a` must mean the
same file every time. The loader passes the inventory's directory to pydantic as validation
context under BASE_DIR; models validated without it (e.g. built in code) keep paths as written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, ValidationInfo
from pydantic_core import PydanticCustomError

BASE_DIR = "base_dir"


def anchor_path(path: Path, info: ValidationInfo | None) -> Path:
    """Expand "~" and make `path` absolute against the inventory's directory, if known."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in str(path)):
        # NUL ends a path for the kernel; a newline splits the lines of what shows it.
        raise PydanticCustomError(
            "path_control", "a path may not hold control characters (NUL, newline, tab, ESC)"
        )
    expanded = path.expanduser()
    if expanded.is_absolute():
        return Path(os.path.normpath(expanded))
    context = info.context if info is not None else None
    base = context.get(BASE_DIR) if isinstance(context, dict) else None
    if base is None:
        return expanded
    return Path(os.path.normpath(Path(base) / expanded))


InventoryPath = Annotated[Path, AfterValidator(anchor_path)]
"""A file path field of the inventory (key files, known_hosts files)."""
