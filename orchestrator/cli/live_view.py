"""The operator's live view of a run, and the prompts for manual steps (rich, on stderr)."""

from __future__ import annotations

import sys
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.prompt import Prompt

from orchestrator.engine.operator import Answer

_STATUS_STYLE = {
    "succeeded": "[green]✓[/]",
    "failed": "[bold red]✗[/]",
    "skipped": "[dim]–[/]",
    "interrupted": "[yellow]‖[/]",
    "rolled_back": "[magenta]↶[/]",
    "waiting": "[yellow]…[/]",
    "declined": "[red]⊘[/]",
}


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


class LiveView:
    """Prints each step as it starts and ends, with per-host results for fan-outs."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def run_started(self, run_id: str, runbook: str, mode: str, resumed: bool) -> None:
        verb = "resuming" if resumed else "starting"
        self.console.print(f"[bold]{verb} {escape(runbook)}[/] ({mode}) run [cyan]{run_id}[/]")

    def step_started(self, path: str, title: str, hosts: list[str]) -> None:
        on = f" [dim]on {escape(', '.join(hosts))}[/]" if hosts else ""
        self.console.print(f"[dim]{_now()}[/] ▶ [bold]{escape(path)}[/] {escape(title)}{on}")

    def step_finished(self, path: str, status: str, detail: str) -> None:
        mark = _STATUS_STYLE.get(status, status)
        extra = f" [dim]{escape(detail)}[/]" if detail else ""
        self.console.print(f"[dim]{_now()}[/] {mark} {escape(path)} {status}{extra}")

    def host_finished(self, path: str, host: str, status: str, detail: str) -> None:
        mark = _STATUS_STYLE.get(status, status)
        extra = f" [dim]{escape(detail)}[/]" if detail else ""
        self.console.print(f"           {mark} {escape(host)}{extra}")

    def message(self, text: str) -> None:
        self.console.print(f"[dim]{_now()}[/]   {escape(text)}")


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
            )
        )
        question = (
            "完成后输入 y，放弃输入 n" if self.lang == "zh" else "Type y when done, n to abort"
        )
        return self._yes_no(question)

    def ask_proceed(self, title: str, hosts: list[str]) -> Answer:
        if not self.interactive:
            return Answer.UNAVAILABLE
        on = ", ".join(hosts) or "-"
        question = (
            f"即将执行破坏性步骤「{title}」（{on}）。继续？"
            if self.lang == "zh"
            else f"About to run destructive step '{title}' on {on}. Proceed?"
        )
        return self._yes_no(question)

    def wait_notice(self, message: str) -> None:
        self.console.print(f"[yellow]{escape(message)}[/]")

    def _yes_no(self, question: str) -> Answer:
        reply = Prompt.ask(question, choices=["y", "n"], console=self.console)
        return Answer.YES if reply == "y" else Answer.NO
