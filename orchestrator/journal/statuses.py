"""The words a run and its steps end in, and the one rule for the worst of several.

A step that ran on several hosts has one status per host; the step as a whole, and the
observer's line for a fan-out, take the worst of them. The engine, the run document and
the reports all ask `worst()`, so a step never reads as succeeded in one place and
failed in another.
"""

from __future__ import annotations

from collections.abc import Iterable

# A step, on one host or on none.
RUNNING = "running"  # started, not finished (or cut off by a crash)
SUCCEEDED = "succeeded"
FAILED = "failed"
SKIPPED = "skipped"  # its condition did not hold
WAITING = "waiting"  # for a person: a manual step or an approval
DECLINED = "declined"  # the operator said no to a destructive step
ROLLED_BACK = "rolled_back"
INTERRUPTED = "interrupted"  # a wait stopped by a pause; never journaled, it is re-run

# A run, besides running, succeeded, failed, waiting and rolled_back.
PAUSED = "paused"
ABORTED = "aborted"

# Worst first. Anything needing a person comes before anything merely unfinished, and
# those before a step that is in effect: a failure on one host is the step's status
# however many others succeeded. Rolled back is not in effect, so it outranks
# succeeded; skipped is the mildest, so a step done on some hosts and skipped on
# others has succeeded.
WORST_FIRST = (FAILED, DECLINED, INTERRUPTED, RUNNING, WAITING, ROLLED_BACK, SUCCEEDED, SKIPPED)
_RANK = {status: rank for rank, status in enumerate(WORST_FIRST)}


def worst(statuses: Iterable[str]) -> str:
    """The worst of `statuses`; none at all (nothing left to do) counts as succeeded.

    A status this code does not know (written by a newer version) ranks worst of all:
    what we cannot read, we do not report as done.
    """
    return min(statuses, key=lambda status: _RANK.get(status, -1), default=SUCCEEDED)
