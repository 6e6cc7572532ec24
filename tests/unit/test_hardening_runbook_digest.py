"""`runbook_digest` covers the helper modules that hold a runbook's commands
(issue 17, item 8): a changed helper makes `dr resume` ask for --allow-changed."""

from __future__ import annotations

import hashlib
from pathlib import Path

from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.engine.runbook_digest import runbook_digest

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_a_change_to_an_imported_helper_changes_the_digest(tmp_path: Path) -> None:
    book = write(tmp_path / "book.py", "from _cmds import STOP\nimport _deep as d\n")
    write(tmp_path / "_cmds.py", "STOP = 'systemctl stop credit'\n")
    write(tmp_path / "_deep.py", "from pkg._cmds2 import X\n")
    write(tmp_path / "_cmds2.py", "X = 1\n")
    write(tmp_path / "_unrelated.py", "Y = 1\n")
    before = runbook_digest(str(book))
    assert before != hashlib.sha256(book.read_bytes()).hexdigest()

    write(tmp_path / "_unrelated.py", "Y = 2\n")
    assert runbook_digest(str(book)) == before
    write(tmp_path / "_cmds.py", "STOP = 'rm -rf /'\n")
    changed = runbook_digest(str(book))
    assert changed != before
    write(tmp_path / "_cmds2.py", "X = 2\n")  # imported by a helper, in turn
    assert runbook_digest(str(book)) != changed


def test_a_runbook_without_helpers_keeps_the_plain_file_digest(tmp_path: Path) -> None:
    book = write(tmp_path / "plain.py", "import os\n")
    assert runbook_digest(str(book)) == hashlib.sha256(book.read_bytes()).hexdigest()


def test_builtin_runbooks_digest_their_helpers() -> None:
    registry = RunbookRegistry.discover([])
    cutover = registry.get("dual-host-cutover")
    assert cutover.source_file is not None
    plain = hashlib.sha256(Path(cutover.source_file).read_bytes()).hexdigest()
    assert cutover.digest == runbook_digest(cutover.source_file) != plain
