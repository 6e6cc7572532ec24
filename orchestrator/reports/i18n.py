"""The two report languages, and how numbers read in them."""

from __future__ import annotations

import os
from typing import Literal

from orchestrator.errors import UserInputError
from orchestrator.inventory import format_duration
from orchestrator.verdicts import MET, NO_TARGET, NOT_MEASURED, NOT_MET, verdict_of

ReportLang = Literal["zh", "en"]

# The verdicts in both languages; in English "NOT met" stands out in a table of "met".
VERDICT_WORDS = {
    MET: ("达标", "met"),
    NOT_MET: ("未达标", "NOT met"),
    NO_TARGET: ("无目标", "no target"),
    NOT_MEASURED: ("未测得", "not measured"),
}


def report_lang(value: str | None) -> ReportLang:
    """--lang, else DR_LANG (as the run commands read it), else Chinese: a report goes to
    the regulator and the management in Chinese unless the operator asks otherwise.

    Unlike the terminal's language, the locale is not consulted: a server's C.UTF-8 must
    not turn the regulator's report into English."""
    if value is not None:
        return _lang_code(value, "--lang")
    from_environment = os.environ.get("DR_LANG", "").strip()
    return _lang_code(from_environment, "DR_LANG") if from_environment else "zh"


def _lang_code(value: str, where: str) -> ReportLang:
    code = value.lower().replace("_", "-")
    if code in ("zh", "zh-cn"):
        return "zh"
    if code == "en":
        return "en"
    raise UserInputError(f"{where} {value!r} is not a report language; use zh (zh-CN) or en")


def pick(lang: ReportLang, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def seconds_text(value: float | None) -> str:
    """A duration as read by a person, with the exact journal figure beside it."""
    if value is None:
        return "—"
    if value < 60:
        return f"{value:.1f}s"
    return f"{format_duration(value)} ({value:.0f}s)"


def verdict_text(lang: ReportLang, met: bool | None) -> str:
    return pick(lang, *VERDICT_WORDS[verdict_of(met)])
