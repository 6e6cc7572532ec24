"""The two consoles: stdout carries results (and --json), stderr carries messages."""

from __future__ import annotations

from rich.console import Console

console = Console(highlight=False)
# soft_wrap: an error line such as FILE:LINE: field: message must stay one line when piped.
error_console = Console(stderr=True, highlight=False, soft_wrap=True)
