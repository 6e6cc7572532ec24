"""Operator-facing text in Chinese and English."""

from __future__ import annotations

import locale
import os
from dataclasses import dataclass
from typing import Literal, overload

Lang = Literal["zh", "en"]


@dataclass(frozen=True)
class Text:
    """A message an operator reads, in both languages the institution works in."""

    zh: str
    en: str

    def __call__(self, lang: Lang) -> str:
        return self.zh if lang == "zh" else self.en

    def to_dict(self) -> dict[str, str]:
        return {"zh": self.zh, "en": self.en}


@overload
def as_text(value: Text | str) -> Text: ...
@overload
def as_text(value: Text | str | None) -> Text | None: ...


def as_text(value: Text | str | None) -> Text | None:
    """Accept a plain string where a runbook author wrote one (the same in both languages)."""
    if value is None or isinstance(value, Text):
        return value
    return Text(zh=value, en=value)


def default_lang() -> Lang:
    """The operator's language from DR_LANG, then the locale; Chinese when it says zh."""
    explicit = os.environ.get("DR_LANG", "").lower()
    if explicit in ("zh", "en"):
        return explicit  # type: ignore[return-value]
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(var)
        if value:
            return "zh" if value.lower().startswith("zh") else "en"
    code = (locale.getlocale()[0] or "").lower()
    return "zh" if code.startswith("zh") else "en"
