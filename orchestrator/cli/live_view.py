"""The operator's live view of a run, and the prompts for manual steps (rich, on stderr)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, tzinfo

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.prompt import Prompt

from orchestrator.cli.step_words import status_word
from orchestrator.engine.operator import Answer
from orchestrator.shown_times import shown_clock, zone_of
from orchestrator.text import Lang

_STATUS_STYLE = {
    "succeeded": "[green]✓[/]",
    "failed": "[bold red]✗[/]",
    "skipped": "[dim]–[/]",
    "interrupted": "[yellow]‖[/]",
    "rolled_back": "[magenta]↶[/]",
    "waiting": "[yellow]…[/]",
    "declined": "[red]⊘[/]",
}


class LiveView:
    """Prints each step as it starts and ends, with per-host results for fan-outs: the time
    of day in the inventory's zone, statuses in the operator's language."""

    def __init__(self, console: Console, lang: Lang = "en", zone: tzinfo | None = None) -> None:
        self.console = console
        self.lang = lang
        self.zone = zone or zone_of(None)

    def _now(self) -> str:
        return shown_clock(datetime.now(UTC), self.zone)

    def run_started(self, run_id: str, runbook: str, mode: str, resumed: bool) -> None:
        shown_mode = status_word(mode, self.lang)
        if self.lang == "zh":
            verb = "继续" if resumed else "开始"
            line = f"[bold]{verb} {escape(runbook)}[/]（{shown_mode}）运行 [cyan]{run_id}[/]"
        else:
            verb = "resuming" if resumed else "starting"
            line = f"[bold]{verb} {escape(runbook)}[/] ({shown_mode}) run [cyan]{run_id}[/]"
        self.console.print(line)

    def step_started(self, path: str, title: str, hosts: list[str]) -> None:
        where = "于" if self.lang == "zh" else "on"
        on = f" [dim]{where} {escape(', '.join(hosts))}[/]" if hosts else ""
        self.console.print(f"[dim]{self._now()}[/] ▶ [bold]{escape(path)}[/] {escape(title)}{on}")

    def step_finished(self, path: str, status: str, detail: str) -> None:
        mark = _STATUS_STYLE.get(status, status)
        extra = f" [dim]{escape(detail)}[/]" if detail else ""
        word = status_word(status, self.lang)
        self.console.print(f"[dim]{self._now()}[/] {mark} {escape(path)} {word}{extra}")

    def host_finished(self, path: str, host: str, status: str, detail: str) -> None:
        mark = _STATUS_STYLE.get(status, status)
        extra = f" [dim]{escape(detail)}[/]" if detail else ""
        # Under the step's line, past its clock ("15:32:08 UTC+08:00 ").
        indent = " " * (len(self._now()) + 1)
        self.console.print(f"{indent}{mark} {escape(host)}{extra}")

    def message(self, text: str) -> None:
        self.console.print(f"[dim]{self._now()}[/]   {escape(text)}")


def confirmation_text(title: str, changes: list[str], lang: str) -> str:
    """What the operator reads before a destructive step: the step and each change."""
    lines = "\n".join(f"  - {change}" for change in changes)
    if lang == "zh":
        return f"即将执行破坏性步骤「{title}」，将改动：\n{lines}"
    return f"About to run destructive step '{title}', which changes:\n{lines}"


class TerminalOperator:
    """Asks the person at the terminal; reports UNAVAILABLE when there is none."""

    def __init__(self, console: Console, lang: str) -> None:
        self.console = console
        self.lang = lang
        self.interactive = sys.stdin.isatty()

    def ask_done(self, title: str, instructions: str, hosts: list[str]) -> Answer:
        if not self.interactive:
            return Answer.UNAVAILABLE
        on = (
            ("\n" + ("目标: " if self.lang == "zh" else "Targets: ") + ", ".join(hosts))
            if hosts
            else ""
        )
        self.console.print(
            Panel(
                escape(instructions + on),
                title=escape(title),
                title_align="left",
                border_style="yellow",
            ),
            soft_wrap=False,  # the stderr console's soft wrap would crop the panel's lines
        )
        question = (
            "完成后输入 y，放弃输入 n" if self.lang == "zh" else "Type y when done, n to abort"
        )
        return self._yes_no(question)

    def ask_proceed(self, title: str, changes: list[str]) -> Answer:
        if not self.interactive:
            return Answer.UNAVAILABLE
        self.console.print(
            Panel(
                escape(confirmation_text(title, changes, self.lang)),
                title=escape(title),
                title_align="left",
                border_style="red",
            ),
            soft_wrap=False,  # the stderr console's soft wrap would crop the panel's lines
        )
        return self._yes_no("继续？" if self.lang == "zh" else "Proceed?")

    def wait_notice(self, message: str) -> None:
        self.console.print(f"[yellow]{escape(message)}[/]")

    def _yes_no(self, question: str) -> Answer:
        reply = Prompt.ask(question, choices=["y", "n"], console=self.console)
        return Answer.YES if reply == "y" else Answer.NO
