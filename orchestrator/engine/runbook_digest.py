"""A runbook's digest: its own file and the helper modules (`_*.py`) it draws on.

The commands a runbook runs often live in a helper beside it (`runbooks/_dual_host.py`
holds the cutover's); a digest of the runbook file alone would let `dr resume` carry a
run on with changed commands and no warning. Helpers are found by reading the imports
(no import is executed): every imported name whose last part starts with `_` and names
a file in the runbook's directory, and, in turn, what those helpers import.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path


def runbook_digest(source: str) -> str:
    """SHA-256 of the runbook file, followed by each helper's name and bytes (sorted);
    a runbook without helpers keeps the plain SHA-256 of its file. "" if unreadable."""
    path = Path(source)
    try:
        own = path.read_bytes()
    except OSError:
        return ""
    helpers = sorted(_helpers(path), key=lambda p: p.name)
    digest = hashlib.sha256(own)
    if not helpers:
        return digest.hexdigest()
    for helper in helpers:
        try:
            content = helper.read_bytes()
        except OSError:
            content = b""
        digest.update(b"\0" + helper.name.encode() + b"\0" + content)
    return digest.hexdigest()


def _helpers(path: Path) -> set[Path]:
    found: set[Path] = set()
    todo = [path]
    while todo:
        current = todo.pop()
        for name in _imported_names(current):
            last = name.rsplit(".", 1)[-1]
            candidate = path.parent / f"{last}.py"
            if last.startswith("_") and candidate.is_file() and candidate not in found:
                found.add(candidate)
                todo.append(candidate)
    return found


def _imported_names(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return []
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            names.append(base)
            names += [f"{base}.{alias.name}" if base else alias.name for alias in node.names]
    return [n for n in names if n]
