"""Renders `dr plan`'s rows: each step, its hosts and guards, and under it what it will
touch (device, address, port) and the exact commands, one per line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape

from orchestrator.cli.step_words import kind_word
from orchestrator.text import Text

if TYPE_CHECKING:
    from rich.console import Console

    from orchestrator.engine.plan import PlanRow
    from orchestrator.engine.plan_targets import Touch
    from orchestrator.inventory import Inventory
    from orchestrator.text import Lang

# The guards of a step (PlanRow.flags) and the plan's own words, in each language.
_WORDS = {
    "destructive": Text("破坏性", "destructive"),
    "if": Text("有条件", "if"),
    "verify": Text("有核验", "verify"),
    "rollback": Text("可回滚", "rollback"),
    "on": Text("清单", "on"),
    "port": Text("端口", "port"),
    "read-only": Text("只读", "read-only"),
}


def print_plan(
    console: Console,
    title: str,
    name: str,
    inventory: Inventory,
    rows: list[PlanRow],
    lang: Lang = "en",
) -> None:
    console.print(
        f"[bold]{escape(title)}[/] ({name}) {_WORDS['on'](lang)} {escape(inventory.name)} "
        f"{escape(f'[{inventory.environment}]')}"
    )
    for number, row in enumerate(rows, 1):
        on = f" → {', '.join(row.hosts)}" if row.hosts else ""
        said = ", ".join(_WORDS[flag](lang) for flag in row.flags)
        flags = f" [dim]({said})[/]" if row.flags else ""
        console.print(
            f"{number:>3}. [bold]{escape(row.id)}[/] \\[{kind_word(row.kind, lang)}] "
            f"{escape(row.title)}{escape(on)}{flags}",
            highlight=False,
        )
        if row.instructions:
            console.print(f"       [dim]{escape(row.instructions)}[/]", highlight=False)
        for touch in row.touches:
            _print_touch(console, touch, lang)


def _print_touch(console: Console, touch: Touch, lang: Lang) -> None:
    port = f" {_WORDS['port'](lang)} {touch.port}" if touch.port else ""
    reads = "" if touch.changes else f" [dim]({_WORDS['read-only'](lang)})[/]"
    device = "" if touch.via in ("person", "local") else f" [cyan]{escape(touch.device)}[/]"
    console.print(
        f"       {touch.via}{device} {escape(touch.address)}{escape(port)}{reads}",
        highlight=False,
        soft_wrap=True,
    )
    note = touch.note(lang)
    if note:
        console.print(f"         [dim]{escape(note)}[/]", highlight=False, soft_wrap=True)
    # A person's task is not a command line: no prompt sign before it.
    sign = "-" if touch.via == "person" else "$"
    for command in touch.said(lang):
        console.print(f"         {sign} {escape(command)}", highlight=False, soft_wrap=True)
