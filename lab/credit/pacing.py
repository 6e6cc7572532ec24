"""The loop the load generator and the prober share: act at a steady pace, report often.

It acts every `interval` (never in a burst to catch up after a slow action), rewrites
the status file every second, and at once after the state changes, and stops at the
end of its lifetime, when `more()` says so, or when `stop` is set.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

STATUS_EVERY_S = 1.0


def paced_loop(
    stop: threading.Event,
    *,
    interval: float,
    lifetime: float,
    act: Callable[[], None],
    save_status: Callable[[], None],
    state: Callable[[], str],
    more: Callable[[], bool] = lambda: True,
) -> None:
    now = time.monotonic()
    deadline, next_act, next_status = now + lifetime, now, now
    while more():
        now = time.monotonic()
        if now >= next_status:
            save_status()
            next_status = now + STATUS_EVERY_S
        if now >= deadline:
            break
        if now < next_act:
            if stop.wait(min(next_act, next_status, deadline) - now):
                break
            continue
        before = state()
        act()
        if state() != before:
            next_status = time.monotonic()  # a transition shows in the status at once
        # An action that took longer than the interval (a timeout): go on, never burst.
        next_act = max(next_act + interval, time.monotonic())
