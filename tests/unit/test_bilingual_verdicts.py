"""The power, switch and fleet runbooks say every verdict and every refusal in Chinese
and English (issue 19 item 3: a duty operator on `--lang zh` read English results).

Read from the source (AST), so a plain string added later to one of these files fails
here before an operator reads it in English; and the engine's own sentences are said
back in Chinese from the English the journal keeps.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestrator.cli.step_words import result_words, said
from orchestrator.engine import messages
from orchestrator.errors import StepFailed
from orchestrator.text import Text
from runbooks import _power_words

RUNBOOKS = Path(__file__).parent.parent.parent / "runbooks"

BILINGUAL = [
    "power_outage.py",
    "power_restore.py",
    "ups_fault.py",
    "_power.py",
    "_power_words.py",
    "switch_failover.py",
    "_switch_ports.py",
    "fleet_check.py",
    "report_service_restart.py",
    "_branch_checks.py",
    "line_failover.py",
]


def _plain_string(node: ast.expr) -> bool:
    """A str literal, an f-string, a concatenation or a choice of them: one language."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _plain_string(node.left) or _plain_string(node.right)
    if isinstance(node, ast.IfExp):
        return _plain_string(node.body) or _plain_string(node.orelse)
    return False


def _one_language_calls(source: str, name: str, position: int, keyword: str) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        called = node.func.id if isinstance(node.func, ast.Name) else None
        if called != name:
            continue
        said_as = [k.value for k in node.keywords if k.arg == keyword]
        if len(node.args) > position:
            said_as.append(node.args[position])
        if any(_plain_string(arg) for arg in said_as):
            lines.append(node.lineno)
    return lines


@pytest.mark.parametrize("file", BILINGUAL)
def test_verdicts_are_said_in_both_languages(file: str) -> None:
    source = (RUNBOOKS / file).read_text(encoding="utf-8")
    lines = _one_language_calls(source, "Verdict", 1, "detail")
    assert lines == [], f"{file}: Verdict with a plain-string detail at lines {lines}"


@pytest.mark.parametrize("file", BILINGUAL)
def test_step_failures_are_said_in_both_languages(file: str) -> None:
    source = (RUNBOOKS / file).read_text(encoding="utf-8")
    lines = _one_language_calls(source, "StepFailed", 0, "message")
    assert lines == [], f"{file}: StepFailed with a plain-string message at lines {lines}"


def test_the_scan_sees_a_plain_string() -> None:
    """The scan itself: each shape of one-language text is found, a Text is not."""
    source = (
        'Verdict(True, "a")\n'
        'Verdict(False, f"b {x}")\n'
        'Verdict(ok, "c" if ok else "d")\n'
        'Verdict(ok, detail="e" + x)\n'
        'Verdict(ok, Text(zh="甲", en="a"))\n'
        "Verdict(ok, words.breaker('mains', ok))\n"
    )
    assert _one_language_calls(source, "Verdict", 1, "detail") == [1, 2, 3, 4]


def test_step_failed_keeps_english_as_its_message() -> None:
    failed = StepFailed(_power_words.START_WITH_MAINS_CLOSED)
    assert failed.message.startswith("refusing to start the generator")
    assert failed.text.zh.startswith("拒绝启动发电机")
    plain = StepFailed("as written")
    assert plain.text == Text(zh="as written", en="as written")


def test_engine_sentences_said_back_in_chinese_from_the_journal() -> None:
    failed = messages.STEP_FAILED(step="generator-stable", run="20261205-010203-abcdef")
    assert said(failed.en, "zh") == failed.zh
    assert "`dr resume 20261205-010203-abcdef`" in failed.zh
    assert said(failed.en, "en") == failed.en
    waiting = messages.WAITS_FOR_APPROVAL(step="approve", role="leadership", run="R1")
    assert said(waiting.en, "zh") == waiting.zh
    # Text the engine did not make stays as it is.
    assert said("step x failed; something else", "zh") == "step x failed; something else"


def test_a_failed_steps_chinese_error_is_not_listed_as_a_fact() -> None:
    result = {"polls": 3, "error_zh": "检查未通过"}
    assert result_words(result, "zh") == "检查次数：3"
