"""The recovery runbooks say every verdict in Chinese and English (issue 19, item 3): a
duty operator running with `--lang zh` reads the results in Chinese, while the journal
keeps the English under `detail` as before."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from orchestrator.cli.step_words import label, result_words
from orchestrator.runbook import Verdict
from orchestrator.text import Text
from runbooks import _dual_host_words as words

ROOT = Path(__file__).resolve().parents[2]
RECOVERY_FILES = [
    "runbooks/dual_host_cutover.py",
    "runbooks/_dual_host_words.py",
    "runbooks/dual_host_switchover.py",
    "runbooks/switchback.py",
    "runbooks/rebuild_standby.py",
    "runbooks/restore_database.py",
    "runbooks/logical_error.py",
    "runbooks/site_loss.py",
    "runbooks/replication_mode.py",
    "runbooks/_lag_gate.py",
    "runbooks/_probes.py",
    "runbooks/_standby.py",
    "runbooks/_lost_transactions.py",
    "runbooks/_pitr_restore.py",
    "runbooks/_restore_plan.py",
    "runbooks/_rebuild_plan.py",
]


_Bound = dict[str, list[ast.expr]]


def _one_language(node: ast.expr, bound: _Bound | None = None) -> bool:
    """A detail that can only be one language: text written in place (a literal, an
    f-string, text joined or added up), one side taken out of a two-language text, or a
    plain name the same function bound to any of those (`bound`)."""
    bound = bound or {}
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and node.value != ""
    if isinstance(node, ast.JoinedStr | ast.BinOp):
        return True
    if isinstance(node, ast.IfExp):
        return _one_language(node.body, bound) or _one_language(node.orelse, bound)
    if isinstance(node, ast.Attribute):
        return node.attr in ("en", "zh", "message")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return node.func.attr in ("join", "sentence", "format")
    if isinstance(node, ast.Name) and node.id in bound:
        # Each value the name was given in this function; the name itself is left out
        # of what its values may refer to, so `x = x + ...` cannot loop.
        rest = {name: values for name, values in bound.items() if name != node.id}
        return any(_one_language(value, rest) for value in bound[node.id])
    return False


_Scope = ast.Module | ast.FunctionDef | ast.AsyncFunctionDef


def _own_nodes(scope: _Scope) -> list[ast.AST]:
    """The nodes of `scope` outside the functions defined in it (each is its own scope)."""
    found: list[ast.AST] = []
    todo: list[ast.AST] = list(ast.iter_child_nodes(scope))
    while todo:
        node = todo.pop()
        found.append(node)
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            todo.extend(ast.iter_child_nodes(node))
    return found


def _bindings(nodes: list[ast.AST]) -> _Bound:
    """Each plain name a scope assigns (`x = ...`, `x: T = ...`, `x += ...`) and the
    values given to it; a `+=` adds text to text, one language whatever it adds."""
    bound: _Bound = {}
    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    bound.setdefault(target.id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            if isinstance(node.target, ast.Name):
                bound.setdefault(node.target.id, []).append(node.value)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            bound.setdefault(node.target.id, []).append(ast.BinOp(node.target, node.op, node.value))
    return bound


def plain_details(source: str) -> list[int]:
    """Lines where a Verdict is built with a one-language detail, written in place or
    through a plain name the same function bound to one."""
    tree = ast.parse(source)
    scopes: list[_Scope] = [tree]
    scopes += [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
    lines = set()
    for scope in scopes:
        nodes = _own_nodes(scope)
        bound = _bindings(nodes)
        for node in nodes:
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if isinstance(node.func, ast.Attribute):
                name = node.func.attr
            if name != "Verdict":
                continue
            details = node.args[1:2] + [k.value for k in node.keywords if k.arg == "detail"]
            if any(_one_language(detail, bound) for detail in details):
                lines.add(node.lineno)
    return sorted(lines)


def test_the_scan_finds_a_verdict_said_in_one_language():
    source = (
        "Verdict(True, 'done')\n"
        "Verdict(False, f'{host} is down')\n"
        "Verdict(ok, detail='; '.join(problems))\n"
        "Verdict(ok, text.en)\n"
        "Verdict(ok, Text(zh='完成', en='done'))\n"
        "Verdict(ok, words.fenced_by(a, b))\n"
        "Verdict(ok)\n"
    )
    assert plain_details(source) == [1, 2, 3, 4]


def test_the_scan_follows_a_name_bound_in_the_same_function():
    source = (
        "def plain(host):\n"
        "    said = f'{host} is down'\n"
        "    return Verdict(False, said)\n"
        "def grown(ok):\n"
        "    why = Text(zh='原因', en='why')\n"
        "    why += '!'\n"
        "    return Verdict(ok, detail=why)\n"
        "def either(ok):\n"
        "    said = Text(zh='完成', en='done') if ok else 'failed'\n"
        "    return Verdict(ok, said)\n"
        "def both(ok):\n"
        "    said = Text(zh='完成', en='done')\n"
        "    return Verdict(ok, said)\n"
        "def given(ok, said):\n"
        "    return Verdict(ok, said)\n"
        "def elsewhere(ok):\n"
        "    return Verdict(ok, said)\n"
        "said = 'module text'\n"
    )
    # The last two: a parameter and a name from another scope are not followed (a
    # parameter's value is the caller's; a function's own names shadow the module's).
    assert plain_details(source) == [3, 7, 10]


@pytest.mark.parametrize("path", RECOVERY_FILES)
def test_every_recovery_verdict_is_said_in_both_languages(path):
    source = (ROOT / path).read_text(encoding="utf-8")
    assert plain_details(source) == [], f"{path}: a Verdict with a one-language detail"


@pytest.mark.parametrize("path", RECOVERY_FILES)
def test_recovery_modules_stay_small(path):
    assert len((ROOT / path).read_text(encoding="utf-8").splitlines()) <= 500


def test_a_cutover_verdict_reads_in_the_chosen_language():
    verdict = Verdict(False, words.still_serving(["teller-1"], "dc-a", "r-1"))
    assert verdict.sentence("zh").startswith("teller-1 仍看到 dc-a 在运行：它没有断电")
    assert verdict.sentence("en").startswith("teller-1 still see dc-a running")
    seen = words.failure_seen("dc-a", False, ["teller-1"], [])
    # The English as the journal of earlier runs has it.
    assert seen.en == (
        "dc-a: orchestrator cannot reach it; branches answering ['teller-1']; "
        "seen alive by none: down"
    )
    assert seen.zh == (
        "dc-a：编排端无法连接；有应答的网点：teller-1；仍看到其运行的：无；判断：已宕机"
    )


def test_recovery_results_are_labelled_in_chinese():
    promoted = {
        "promoted": "dc-b",
        "replay_lsn": "0/3000060",
        "last_replay_at": "2026-12-04T10:00:00+00:00",
    }
    assert result_words(promoted, "zh") == (
        "已提升为主库：dc-b；回放位置：0/3000060；最后回放的提交时间：2026-12-04T10:00:00+00:00"
    )
    assert result_words(promoted, "en").startswith("promoted: dc-b; replay position: 0/3000060")
    listed = {
        "detail": "The new primary holds every write the old one acknowledged (3 compared).",
        "detail_zh": "新主库拥有旧主库确认的全部交易（比对 3 笔）",
        "lost_count": 0,
        "lost_amount": "0",
    }
    assert result_words(listed, "zh") == (
        "新主库拥有旧主库确认的全部交易（比对 3 笔）；丢失交易笔数：0；丢失金额合计：0"
    )
    # A system left to a person, in the site-loss result, in the operator's language.
    left = {"hr-files": Text(zh="由人工完成（在下一步确认）", en="left to a person").to_dict()}
    assert result_words(left, "zh") == "hr-files：由人工完成（在下一步确认）"
    for key in ("vip_on", "released_from", "inserted", "data_point", "rewound", "upstream"):
        assert label(key, "zh") != key.replace("_", " "), key


def test_a_failed_step_keeps_its_chinese_beside_the_english_error():
    failed = {"error_zh": "检查未通过：dc-a 的 UPS 插座又被打开"}
    # The error is said by the table from the step record, never among the result's facts.
    assert result_words(failed, "zh") == ""


def test_a_recovery_point_reads_in_both_languages():
    from backups.pgbackrest.restore import RecoveryTarget
    from backups.pitr.point import RequestedPoint
    from runbooks._pitr_restore import point_words

    before = point_words(RequestedPoint(RecoveryTarget.at_xid(812, exclusive=True)))
    assert (before.zh, before.en) == ("xid 812 之前", "just before xid 812")
    latest = point_words(RequestedPoint(RecoveryTarget.latest()))
    assert latest.zh == "归档日志的末尾（最新）"
    assert latest.en == "the end of the archived WAL (latest)"
