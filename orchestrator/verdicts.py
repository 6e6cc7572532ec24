"""Whether a measured RTO or RPO met its target: the one rule and the words for it.

Runs (the engine's and the lab's measurements), restore tests, `dr backup list` and the
reports all judge and name a figure here, so a target is never "not met" in one record
and "missed" in another.
"""

from __future__ import annotations

MET = "met"
NOT_MET = "not met"
NO_TARGET = "no target"
NOT_MEASURED = "not measured"  # there is a target, but the figure could not be taken

# Restore tests journaled before the vocabulary was one said "missed" for not met.
# Journals are append-only, so those events stay as written: readers map the old word
# through `read_verdict` instead.
_FORMER_WORDS = {"missed": NOT_MET}


def met(value: float | None, target: float | None) -> bool | None:
    """True when `value` is within `target` (equal counts as met); None without a target.

    A figure that could not be measured has met no target: an unproven recovery is not a
    recovery.
    """
    if target is None:
        return None
    return value is not None and value <= target


def verdict(value: float | None, target: float | None) -> str:
    if target is None:
        return NO_TARGET
    if value is None:
        return NOT_MEASURED
    return MET if value <= target else NOT_MET


def verdict_of(judged: bool | None) -> str:
    """The word for a judgement already made (the journal's `met` column)."""
    if judged is None:
        return NO_TARGET
    return MET if judged else NOT_MET


def read_verdict(word: str | None) -> str | None:
    """A verdict word as read back from the journal, in today's vocabulary."""
    return None if word is None else _FORMER_WORDS.get(word, word)


def met_of(word: str | None) -> bool | None:
    """The judgement a verdict word stands for (old words included); None for no target."""
    current = read_verdict(word)
    if current in (None, NO_TARGET):
        return None
    return current == MET
