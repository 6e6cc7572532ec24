"""The drill lab's own error: a lab part could not be built, run or taken down.

It lives with the lab, not in the product's errors, because only the lab raises it;
it is a `DrError` so that the CLI shows its message like any other.
"""

from __future__ import annotations

from orchestrator.errors import DrError


class LabError(DrError):
    """The drill lab (or a lab part: sshd, PostgreSQL, NUT, ...) could not be built or run."""
