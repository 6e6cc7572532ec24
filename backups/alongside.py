"""Work that dr does beside a running restic, at a lower CPU priority.

restic is the critical path of a backup. What dr adds while it runs (hashing every file
for the manifest, the manifest's own restic deriving its key, loading the journal)
should use the CPU that restic leaves free rather than slow it down: on a two-core
machine restic alone keeps most of both cores busy (bench/backup_vs_restic.py, and its
`--restic-cores` for a machine with cores to spare). On Linux the nice value belongs to a
thread, and a child process starts with the nice value of the thread that started it.
So the work runs in a thread of its own whose priority is lowered, and what it starts
inherits that. A new thread, not the caller's: without privileges a lowered priority
cannot be raised again, and the scheduler's threads go on to run other jobs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# From nice 0, restic gets about ten times the CPU share of this work when both want it.
LOWER_BY = 10


def at_lower_priority(work: Callable[[], T]) -> T:
    """Run `work` in a new thread at `LOWER_BY` lower priority; its result or exception."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def run() -> None:
        lower_this_thread()
        try:
            outcome.append(work())
        except BaseException as err:  # handed to the caller's thread just below
            failure.append(err)

    thread = threading.Thread(target=run, name="dr-alongside-restic", daemon=True)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return outcome[0]


def lower_this_thread() -> None:
    thread_id = threading.get_native_id()
    # Best effort: a platform without per-thread priorities just runs it at the same one.
    with contextlib.suppress(OSError, AttributeError):
        current = os.getpriority(os.PRIO_PROCESS, thread_id)
        os.setpriority(os.PRIO_PROCESS, thread_id, min(current + LOWER_BY, 19))
