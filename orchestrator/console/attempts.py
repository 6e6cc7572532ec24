"""Sign-in attempts per client address and per name: a few per window, then wait.

In memory: a restarted console forgets, which costs an attacker a restart they cannot
cause; the codes themselves (192 random bits, once, minutes) are what guessing fails on.
"""

from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_SECONDS = 600.0
PER_ADDRESS = 10
PER_NAME = 5


class Attempts:
    def __init__(self, per_address: int = PER_ADDRESS, per_name: int = PER_NAME) -> None:
        self._limits = {"address": per_address, "name": per_name}
        self._seen: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, address: str, name: str = "") -> bool:
        """Count this attempt; False if the address or the name is over its limit."""
        now = time.monotonic()
        keys = [("address", address)] + ([("name", name.lower())] if name else [])
        with self._lock:
            queues = [self._queue(key, now) for key in keys]
            if any(len(q) >= self._limits[k[0]] for k, q in zip(keys, queues, strict=True)):
                return False
            for queue in queues:
                queue.append(now)
            return True

    def _queue(self, key: tuple[str, str], now: float) -> deque[float]:
        queue = self._seen.setdefault(key, deque())
        while queue and queue[0] < now - WINDOW_SECONDS:
            queue.popleft()
        return queue
