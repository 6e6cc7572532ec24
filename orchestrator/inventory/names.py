"""Names of inventory items, and "did you mean ...?" suggestions for names that do not exist."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

# Names are used on the command line and in host selectors ("site:xiguan,role:db",
# "pair:credit.primary"), so they may not hold the characters that split selectors.
# Anything else is allowed, including Chinese names for sites.
_NAME = re.compile(r"^[^\s,:]+$")


def _validate_name(value: str) -> str:
    if not _NAME.match(value):
        raise PydanticCustomError(
            "name",
            "a name must be non-empty and contain no spaces, commas or colons "
            "(they separate host selectors such as 'site:NAME,role:NAME')",
        )
    return value


def _validate_label(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("label", "must not be empty")
    return value


Name = Annotated[str, AfterValidator(_validate_name)]
"""The name of a site, host, pair, line, switch, UPS, generator or backup set."""

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
