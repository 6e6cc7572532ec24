"""Ctrl-C pauses a run safely: the first one asks, the second one insists."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


@contextmanager
def pause_on_interrupt(pause: threading.Event, announce: Callable[[str], None]) -> Iterator[None]:
    """First SIGINT/SIGTERM: finish the current action, then pause. Second: stop now.

    Stopping in the middle of an action is still recoverable (resume re-checks it through
    its verify), but letting it finish leaves the cleaner record.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, _frame: FrameType | None) -> None:
        if pause.is_set():
            raise KeyboardInterrupt
        pause.set()
        announce(
            "pause requested: finishing the current action, then pausing (Ctrl-C again to "
            "stop at once) / 已请求暂停：当前动作完成后暂停（再按一次 Ctrl-C 立即停止）"
        )

    previous: dict[signal.Signals, Any] = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
