"""dr's work beside restic runs at a lower priority, and so does what it starts."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from backups.alongside import LOWER_BY, at_lower_priority


def own_priority() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_the_work_and_its_children_run_lower_and_the_caller_keeps_its_priority():
    before = own_priority()

    def work() -> tuple[int, int, int]:
        child = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpriority(os.PRIO_PROCESS, 0))"],
            capture_output=True,
            text=True,
            check=True,
        )
        return threading.get_native_id(), own_priority(), int(child.stdout)

    thread_id, in_work, in_child = at_lower_priority(work)

    assert thread_id != threading.get_native_id()
    assert in_work == in_child == min(before + LOWER_BY, 19)
    assert own_priority() == before


def test_the_works_exception_reaches_the_caller():
    class Broken(Exception):
        pass

    def work() -> None:
        raise Broken("journal cannot be opened")

    with pytest.raises(Broken, match="journal cannot be opened"):
        at_lower_priority(work)
