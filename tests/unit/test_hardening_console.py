"""Terminal escapes from inventory values never reach the screen (issue 17, item 8)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from rich.table import Table
from rich.text import Text

from orchestrator.cli.console import SafeConsole, printable

REPO = Path(__file__).resolve().parents[2]
DRILL = REPO / "tests" / "data" / "inventories" / "drill-small.yaml"
DR = Path(sys.executable).parent / "dr"
CLEAR_SCREEN = "\x1b[2J"
TITLE = "\x1b]0;owned\x07"
RTL = "\u202e"


def test_printable_escapes_controls_and_bidi_marks_but_keeps_text() -> None:
    assert printable(f"a{CLEAR_SCREEN}b") == "a\\x1b[2Jb"
    assert printable(f"x{RTL}y") == "x\\u202ey"
    assert printable("信用报告\tok\n") == "信用报告\tok\n"


def test_the_console_escapes_values_in_text_and_tables() -> None:
    out = io.StringIO()
    console = SafeConsole(file=out, force_terminal=True, width=200)
    table = Table("name")
    table.add_row(Text(f"ops{TITLE}"))
    console.print(Text(f"host{CLEAR_SCREEN}{RTL}"), style="bold")
    console.print(table)
    shown = out.getvalue()
    assert CLEAR_SCREEN not in shown and TITLE not in shown and RTL not in shown
    # A table measures its cells before they are escaped: the cell may be cut short,
    # but nothing raw gets through (`dr inventory show` escapes its cells beforehand).
    assert "host\\x1b[2J\\u202e" in shown and "ops\\x1b" in shown
    assert "\x1b[1m" in shown  # rich's own styling still reaches the terminal


def test_inventory_show_does_not_write_escape_sequences(tmp_path: Path) -> None:
    hostile = '"lead\\e[2J\\e]0;owned\\a"'
    text = (
        DRILL.read_text(encoding="utf-8")
        .replace("{name: lead,", f"{{name: {hostile},")
        .replace("red: [ops, lead]", f"red: [ops, {hostile}]")
    )
    path = tmp_path / "inv.yaml"
    path.write_text(text, encoding="utf-8")
    for item in ("keys", "secrets", "known_hosts"):
        if (DRILL.parent / item).exists():
            (tmp_path / item).symlink_to(DRILL.parent / item)
    result = subprocess.run(
        [str(DR), "inventory", "show", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "lead\\x1b[2J" in result.stdout
