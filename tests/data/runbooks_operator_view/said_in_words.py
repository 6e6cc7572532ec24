"""A runbook whose steps return what the end-of-run table must say in words: a long
two-language sentence, a switch swap's figures, one result per host, and a destructive
step whose plan hook names the switch ports and domain it changes (the confirmation)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text

# Longer than any terminal's cell: the table must wrap it, never cut it.
LONG_EN = (
    "line fault on branch-1-primary-line: no carrier on sw-core GigabitEthernet0/0/1 "
    "while the peer 203.0.113.1 does not answer either, so the standby line is used "
    "from now on END-OF-SENTENCE"
)
LONG_ZH = (
    "branch-1-primary-line 线路故障：sw-core GigabitEthernet0/0/1 无载波，对端无应答，"
    "改用备用线路 句末"
)

words = Runbook(
    "said-in-words",
    title=Text(zh="结果以文字呈现", en="Results said in words"),
    system="engine-test",
    params={"effects": Param("")},
)


@words.check("diagnose", title=Text(zh="诊断", en="Diagnose"))
def diagnose(ctx: Any) -> Verdict:
    return Verdict(True, Text(zh=LONG_ZH, en=LONG_EN))


@words.action(
    "swap-ports",
    destructive=True,
    title=Text(zh="交换端口", en="Swap the ports"),
)
def swap_ports(ctx: Any) -> dict[str, str]:
    # Reaches no switch: the test is of what is said, before and after.
    Path(ctx.params["effects"]).write_text("swapped\n")
    return {
        "switch": "sw-core",
        "detached": "GigabitEthernet0/0/1",
        "attached": "GigabitEthernet0/0/24",
    }


@swap_ports.plan
def plan_swap(plan: Any) -> None:
    plan.switch("sw-core", "detach", "GigabitEthernet0/0/1", "110")
    plan.switch("sw-core", "attach", "GigabitEthernet0/0/24", "110")
    # A person's part with a note: both said in the run's language in the confirmation.
    plan.person(
        Text(zh="请网点柜员稍候", en="ask the branch tellers to wait"),
        note=Text(zh="交换期间约 2 秒中断", en="about 2 s without service during the swap"),
    )


@words.action("per-host", targets="role:app", title=Text(zh="逐台", en="Each host"))
def per_host(ctx: Any, host: Any) -> dict[str, Any]:
    return {"host": host.name, "already_in_effect": False}
