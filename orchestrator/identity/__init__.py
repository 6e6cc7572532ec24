"""Authenticated people: the OS account mapped to a contact, or a one-time code."""

from orchestrator.identity.person import (
    IdentityUnknown,
    Person,
    check_claim,
    person_at_terminal,
    shown_name,
    terminal_account,
    unmapped_at_terminal,
)

__all__ = [
    "IdentityUnknown",
    "Person",
    "check_claim",
    "person_at_terminal",
    "shown_name",
    "terminal_account",
    "unmapped_at_terminal",
]
