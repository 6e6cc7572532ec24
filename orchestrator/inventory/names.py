"""Names of inventory items, and "did you mean ...?" suggestions for names that do not exist."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# Names reach shell command lines on the hosts (`{host}` in a pair's control commands,
# the power runbook's shutdown command), the journal, host selectors
# ("site:xiguan,role:db", "pair:credit.primary") and the operator's terminal. Quoting
# protects the shell; a small character set protects everything else as well (no
# option-like leading '-', no control characters, no right-to-left marks that make a
# name read differently from what it is). 63 characters, as a DNS label.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_NAME_RULE = "1 to 63 letters (A-Z, a-z), digits, '.', '_' or '-', starting with a letter or digit"
# A network interface as Linux names it (eth0, bond0.100, eth0:1): IFNAMSIZ keeps 15.
_INTERFACE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,14}")


def shown(value: str) -> str:
    """`value` for an error message: escaped, so that a control character or a
    right-to-left mark in it cannot act on the operator's terminal; cut when long."""
    text = ascii(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _validate_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise PydanticCustomError(
            "name",
            "a name is {rule} (names reach command lines on the hosts and selectors such "
            "as 'site:NAME,role:NAME'); got {got}",
            {"rule": _NAME_RULE, "got": shown(value)},
        )
    return value


def _validate_identifier(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise PydanticCustomError(
            "identifier",
            "an account or role name here is {rule} (it reaches command lines on the "
            "hosts); got {got}",
            {"rule": _NAME_RULE, "got": shown(value)},
        )
    return value


def _validate_interface(value: str) -> str:
    if not _INTERFACE.fullmatch(value):
        raise PydanticCustomError(
            "interface",
            "a network interface is 1 to 15 letters, digits, '.', '_', ':', '@' or '-', "
            "starting with a letter or digit, e.g. eth0 or bond0.100; got {got}",
            {"got": shown(value)},
        )
    return value


def _validate_label(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("label", "must not be empty")
    return value


Name = Annotated[str, AfterValidator(_validate_name)]
"""The name of a site, host, pair, line, switch, UPS, generator, backup set or system."""

Identifier = Annotated[str, AfterValidator(_validate_identifier)]
"""An account or role: SSH and switch users, database roles, a NUT UPS and its user."""

InterfaceName = Annotated[str, AfterValidator(_validate_interface)]
"""A host's network interface (the VIP's)."""

Label = Annotated[str, AfterValidator(_validate_label)]
"""Free text that must not be blank (a contact's name, a system's name)."""


def close_matches(word: str, candidates: Iterable[str]) -> list[str]:
    """The candidates that look like a typo of `word`, best first."""
    return difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)


def did_you_mean(word: Any, candidates: Iterable[str], kind: str) -> str:
    """A hint for an unknown name: the close matches, else the known names (abbreviated)."""
    known = list(candidates)
    if not known:
        return f"there are no {kind} in the inventory"
    close = close_matches(str(word), known)
    if close:
        return "did you mean " + " or ".join(repr(c) for c in close) + "?"
    shown = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
    return f"known {kind}: {shown}"
