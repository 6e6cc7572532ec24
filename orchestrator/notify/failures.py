"""How one delivery attempt fails."""

from __future__ import annotations


class DeliveryFailed(Exception):
    """One attempt failed; `permanent` ones are not retried (a missing secret, say)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
