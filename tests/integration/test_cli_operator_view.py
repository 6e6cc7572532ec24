"""What a duty operator reads from `dr`: each step's result in words, whole and in the
language chosen; identifiers never cut on a narrow terminal; every time in the
inventory's zone, said; a confirmation that names what the destructive step changes.
Real processes, real terminals (pexpect), a real journal."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pexpect
import pytest

from orchestrator.errors import EXIT_BAD_INPUT, EXIT_FAILED
from tests.support.identity import mapped_copy

DATA = Path(__file__).parent.parent / "data"
RUNBOOKS = DATA / "runbooks_operator_view"
DRILL_INV = str(DATA / "operator-view-drill.yaml")  # Europe/Berlin
PROD_INV = DATA / "operator-view-production.yaml"
CHINA_INV = str(DATA / "engine-drill.yaml")  # no timezone: Asia/Shanghai
EXAMPLE = Path(__file__).resolve().parents[2] / "inventory" / "example-production.yaml"


@pytest.fixture
def dr(tmp_path: Path):
    base = {
        **os.environ,
        "DR_RUNBOOKS": str(RUNBOOKS),
        "DR_DB": f"sqlite:///{tmp_path}/journal.sqlite3",
        "DR_LANG": "en",
        "COLUMNS": "80",
    }

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", *args],
            env={**base, **env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    run.effects = tmp_path / "effects.log"  # type: ignore[attr-defined]
    run.env = base  # type: ignore[attr-defined]
    return run


def _cells(stdout: str) -> str:
    """The table's text with its borders and the wrapping taken out: one line of words."""
    return " ".join(re.sub(r"[│┃┏┓┗┛┡┩└┘┌┐━─┳┻╇╈┼┬┴]", " ", stdout).split())


def _drill(dr, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
    return dr(
        "drill", "said-in-words", "-i", DRILL_INV, "-p", f"effects={dr.effects}", *extra, **env
    )


def test_the_end_of_run_table_says_each_result_in_words_whole(dr):
    result = _drill(dr)
    assert result.returncode == 0, result.stderr
    words = _cells(result.stdout)
    # The whole sentence, wrapped over several lines of its cell, never cut.
    assert (
        "line fault on branch-1-primary-line: no carrier on sw-core GigabitEthernet0/0/1 "
        "while the peer 203.0.113.1 does not answer either, so the standby line is used "
        "from now on END-OF-SENTENCE"
    ) in words
    assert (
        "switch: sw-core; port detached: GigabitEthernet0/0/1; port attached: GigabitEthernet0/0/24"
    ) in words
    assert "app-1: succeeded — host: app-1; already in effect: no" in words
    assert "{" not in result.stdout and "..." not in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 80

    run_id = json.loads(dr("runs", "list", "--json").stdout)[0]["id"]
    shown = dr("runs", "show", run_id)
    assert shown.returncode == 0, shown.stderr
    assert "END-OF-SENTENCE" in shown.stdout and "{" not in shown.stdout


@pytest.mark.parametrize("how", ["--lang", "DR_LANG"])
def test_statuses_and_results_print_in_chinese(dr, how):
    result = _drill(dr, "--lang", "zh") if how == "--lang" else _drill(dr, DR_LANG="zh")
    assert result.returncode == 0, result.stderr
    words = _cells(result.stdout)
    assert "状态=成功" in words and "模式=演练" in words
    assert "句末" in words and "END-OF-SENTENCE" not in words  # the runbook's Chinese
    assert (
        "交换机：sw-core；断开端口：GigabitEthernet0/0/1；接入端口：GigabitEthernet0/0/24" in words
    )
    assert "app-1: 成功 — 主机：app-1；此前已生效：否" in words
    assert "succeeded" not in result.stdout
    assert "成功" in result.stderr  # the live view too

    run_id = json.loads(dr("runs", "list", "--json").stdout)[0]["id"]
    shown = dr("runs", "show", run_id, "--lang", "zh")
    assert "状态=成功" in shown.stdout and "句末" in shown.stdout, shown.stdout
    listed = dr("runs", "list", "--lang", "zh")
    assert "运行编号" in listed.stdout and "演练" in listed.stdout and "成功" in listed.stdout


def test_every_time_says_the_inventorys_zone(dr, tmp_path):
    berlin = _drill(dr)
    assert berlin.returncode == 0, berlin.stderr
    assert "UTC+01:00" in berlin.stdout and "+00:00" not in berlin.stdout
    # The live view's clock, too, in the same zone.
    assert re.search(r"^\d\d:\d\d:\d\d UTC\+01:00 ▶ diagnose", berlin.stderr, re.M)
    listed = dr("runs", "list", COLUMNS="200")
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\+01:00", listed.stdout)

    china = dr("drill", "checks", "-i", CHINA_INV, "-p", f"effects={dr.effects}",
               DR_RUNBOOKS=str(DATA / "runbooks"))  # fmt: skip
    assert china.returncode == 0, china.stderr
    assert "UTC+08:00" in china.stdout and "+00:00" not in china.stdout


@pytest.mark.parametrize("columns", ["80", "60", "40"])
def test_ids_the_operator_types_next_are_never_cut(dr, columns):
    assert _drill(dr).returncode == 0
    [run] = json.loads(dr("runs", "list", "--json").stdout)
    listed = dr("runs", "list", COLUMNS=columns)
    assert listed.returncode == 0, listed.stderr
    # Whole, on one line, however narrow the terminal; and nothing squeezed to nothing.
    assert any(run["id"] in line for line in listed.stdout.splitlines()), listed.stdout
    assert "said-in-words" in listed.stdout and "…" not in listed.stdout
    assert max(len(line) for line in listed.stdout.splitlines()) <= int(columns)
    shown = dr("runs", "show", run["id"], COLUMNS=columns)
    for step in ("diagnose", "swap-ports", "per-host"):
        assert step in shown.stdout
    assert "…" not in shown.stdout
    books = dr("runbook", "list", COLUMNS=columns)
    assert "said-in-words" in books.stdout and "…" not in books.stdout


def test_inventory_check_takes_the_file_as_argument_or_with_i(dr, tmp_path):
    by_argument = dr("inventory", "check", DRILL_INV)
    by_option = dr("inventory", "check", "-i", DRILL_INV)
    both = dr("inventory", "check", DRILL_INV, "--inventory", DRILL_INV)
    for result in (by_argument, by_option, both):
        assert result.returncode == 0, result.stderr
        assert "ok —" in result.stdout
    shown = dr("inventory", "show", "-i", DRILL_INV, "--json")
    assert json.loads(shown.stdout)["name"] == "operator-view-drill"
    two = dr("inventory", "check", DRILL_INV, "-i", str(PROD_INV))
    none = dr("inventory", "check")
    assert two.returncode == EXIT_BAD_INPUT and "give one" in two.stderr
    assert none.returncode == EXIT_BAD_INPUT and "-i FILE" in none.stderr
    assert "Traceback" not in two.stderr + none.stderr


def test_a_live_run_confirms_by_naming_the_switch_ports_and_domain(dr, tmp_path):
    """`dr run --lang zh` on a production inventory, at a terminal: before the
    destructive step the operator reads which switch, which ports, which domain."""
    inventory = mapped_copy(PROD_INV, tmp_path, "duty-wang")
    key = tmp_path / "journal.key"  # a live run signs its journal
    made = dr("journal", "init-key", "--path", str(key))
    assert made.returncode == 0, made.stderr
    child = pexpect.spawn(
        sys.executable,
        ["-m", "orchestrator.cli.main", "run", "said-in-words", "-i", str(inventory),
         "-p", f"effects={dr.effects}", "--reason", "test", "--lang", "zh"],
        env={**dr.env, "DR_SWITCH_PASSWORD": "unused", "DR_JOURNAL_KEY": str(key)},
        encoding="utf-8",
        timeout=60,
        dimensions=(50, 200),
    )  # fmt: skip
    child.expect("即将执行破坏性步骤「交换端口」，将改动")
    child.expect(r"\[y/n\]")
    # The panel wraps its lines (a Chinese line may break between two characters): read
    # it without its borders, colours and white space.
    asked = "".join(re.sub(r"\x1b\[[0-9;]*m|[│╭╮╰╯─]", "", child.before).split())
    assert (
        "交换机sw-core：端口GigabitEthernet0/0/1退出转发域110，移入隔离VLAN999；"
        "端口GigabitEthernet0/0/24加入转发域110"
    ) in asked
    assert "（-）" not in asked
    # A person's part and the plan's note on it, in the run's language too.
    assert "人工：请网点柜员稍候（交换期间约2秒中断）" in asked
    assert "tellers" not in asked and "withoutservice" not in asked
    child.sendline("y")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert dr.effects.read_text() == "swapped\n"


def test_the_shipped_line_failover_and_cutover_confirmations_say_what_changes():
    """On the production example: line-failover's swap names the switch, both ports and
    the branch's domain; the dual-host cutover's fence and promotion name the hosts."""
    from orchestrator.cli.live_view import confirmation_text
    from orchestrator.engine.confirmation import changes_of
    from orchestrator.engine.discovery import RunbookRegistry
    from orchestrator.engine.plan import make_plan
    from orchestrator.inventory import load_inventory

    registry = RunbookRegistry.discover()
    inventory = load_inventory(EXAMPLE)

    def said(name: str, step: str, lang: str, **params: str) -> str:
        plan = make_plan(registry.get(name), registry, params, inventory, "en")
        assert not plan.problems
        [(planned, row)] = [(p, r) for p, r in zip(plan.steps, plan.rows, strict=True)
                            if r.id == step]  # fmt: skip
        assert planned.step.destructive
        changes = changes_of(planned, list(row.hosts), inventory, lang)  # type: ignore[arg-type]
        return confirmation_text(row.title, changes, lang)

    zh = said("line-failover", "swap-to-standby-line", "zh", branch="chengguan")
    assert (
        "交换机 chengguan-sw-funds：端口 GigabitEthernet0/0/1 退出转发域 110，移入隔离 VLAN 999；"
        "端口 GigabitEthernet0/0/24 加入转发域 110"
    ) in zh
    en = said("line-failover", "swap-to-standby-line", "en", branch="chengguan")
    assert (
        "switch chengguan-sw-funds: port GigabitEthernet0/0/1 leaves domain 110, parked in "
        "isolation VLAN 999; port GigabitEthernet0/0/24 joins domain 110"
    ) in en

    fence = said("dual-host-cutover", "fence-old-primary", "zh")
    assert "主机 credit-a（dr-ops@10.77.0.11:22）执行：systemctl stop credit-report" in fence
    assert "UPS hq-ups" in fence  # the next fencing method, on the outlet feeding credit-a
    # Each method's note, in the run's language.
    assert "（隔离方式 1：ssh）" in fence and "为 credit-a 供电的插座" in fence
    assert "fencing method" not in fence and "outlet feeding" not in fence
    fence_en = said("dual-host-cutover", "fence-old-primary", "en")
    assert "(fencing method 1: ssh)" in fence_en and "the outlet feeding credit-a" in fence_en
    promote = said("dual-host-cutover", "promote-standby", "en")
    assert "host credit-b (dr-ops@10.77.0.12:22) runs:" in promote and "promote" in promote


def test_incident_open_exits_1_when_its_notice_did_not_reach_everyone(
    tmp_path, mailbox, http_receiver
):
    """The incident is recorded and its id printed, but a roster that was not told must not
    look told: exit 1, and why, in Chinese and English."""
    from tests.integration.test_incidents import write_inventory
    from tests.support.notify_receivers import SMTP_PASSWORD

    box, port = mailbox
    box.clear()
    dead = [{"name": "dead", "kind": "generic", "url": "env:C1_DEAD_URL"}]
    inventory = str(write_inventory(tmp_path, port, dead))
    env = {
        **os.environ,
        "DR_DB": f"sqlite:///{tmp_path}/incidents.sqlite3",
        "C1_SMTP_PASSWORD": SMTP_PASSWORD,
        "C1_DEAD_URL": "http://127.0.0.1:9/nothing-listens",
    }

    def dr(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "orchestrator.cli.main", "incident", *args],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    opened = dr("open", "-i", inventory, "--category", "system", "--summary", "slow", "--json")
    assert opened.returncode == EXIT_FAILED, opened.stderr
    incident_id = json.loads(opened.stdout)["id"]
    assert f"incident {incident_id} is recorded" in opened.stderr
    assert "did not reach everyone" in opened.stderr and "未能全部送达" in opened.stderr
    assert "Traceback" not in opened.stderr
    assert len(box.to("wang@lab.invalid")) == 1  # the mail went; the webhook did not
    listed = json.loads(dr("list", "--json").stdout)["incidents"]
    assert [i["id"] for i in listed] == [incident_id]

    http_receiver.clear()
    env["C1_DEAD_URL"] = http_receiver.url("/generic")  # now every recipient answers
    again = dr("open", "-i", inventory, "--category", "network", "--summary", "line down")
    assert again.returncode == 0, again.stderr
