"""Runbooks for the hardening tests of `dr resume` (issue 17, item 4), built in code."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from orchestrator.runbook import Param, Runbook


def effects_of(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def counting_runbook(retries: int = 2) -> Runbook:
    """One action that appends a line to `effects` each time it runs."""
    book = Runbook("count-once", title="Count once", params={"effects": Param("")})

    @book.action("append", retries=retries, backoff=0)
    def append(ctx: Any) -> None:
        with open(ctx.params["effects"], "a") as handle:
            handle.write("ran\n")

    return book


def blocking_runbook(entered: threading.Event, release: threading.Event) -> Runbook:
    """A manual step first (a run without a person pauses there), then an action that
    blocks until `release`: a resume holding the run stays in it."""
    book = Runbook("hold-then-act", title="Hold", params={"effects": Param("")})
    book.manual("confirm", title="Confirm", instructions="Confirm.")

    @book.action("act", timeout=None)
    def act(ctx: Any) -> None:
        entered.set()
        release.wait(60)
        with open(ctx.params["effects"], "a") as handle:
            handle.write("acted\n")

    return book
