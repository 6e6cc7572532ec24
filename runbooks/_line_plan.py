"""What line-failover and line-failback will touch, for `dr plan` and for the confirmation
before the swap: the primary line's switch and ports, the cross-connect, the forwarding
domain the branch's traffic moves between, and how the branch proves it reaches the
service (its site's `check:`). Where the switch is not managed, or the line lacks the
swap fields, the swap is a person's, by the checklist (_line_swap.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from orchestrator.inventory.command_templates import fill
from orchestrator.text import Text
from runbooks._line_swap import swap_ports

if TYPE_CHECKING:
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Line


def planned_line(plan: PlanContext, kind: str) -> Line | None:
    branch = plan.params["branch"]
    found = [x for x in plan.inventory.lines if x.site == branch and x.kind == kind]
    if not found:
        plan.problem(f"branch {branch} has no {kind} line (lines[].site, kind: {kind})", "lines")
        return None
    return found[0]


def plan_branch_check(plan: PlanContext, note: Text) -> None:
    """How the branch proves it reaches the service, by its site's `check:`
    (_branch_checks.py): without one, the probe command over SSH on the site's first host."""
    branch = plan.params["branch"]
    site = plan.inventory.site(branch)
    pair = plan.inventory.pair(plan.params["pair"])
    if pair.service_url is None:
        plan.need(pair, "service_url", "the branch check needs the pair's service_url")
        return
    url = str(pair.service_url)
    check = site.check
    kind = check.kind if check is not None else "ssh-command"
    if kind == "person":
        plan.person(
            Text(
                f"{branch} 的员工确认信贷系统可用",
                f"the staff at {branch} confirm the credit system works",
            ),
            note=note,
        )
        return
    if kind == "tcp-connect":
        plan.local(f"TCP connect {check.address}:{check.port}", note=note)  # type: ignore[union-attr]
        return
    if kind == "switch-view":
        primary = planned_line(plan, "primary")
        if primary is not None:
            plan.switch(primary.switch, "read", primary.port, note=note)
        return
    named = getattr(check, "host", None)
    hosts = (
        [plan.inventory.host(named)]
        if named
        else [h for h in plan.inventory.hosts if h.site == branch]
    )
    if not hosts:
        plan.need(
            site,
            "check",
            f"branch {branch} has no host to check the service from: add `check:` to the "
            "site (ssh-python, ssh-command, tcp-connect, switch-view, person) or a host there",
        )
        return
    template = getattr(check, "command", None) or plan.params["probe_command"]
    command = f"python3 - (GET {url})" if kind == "ssh-python" else fill(template, url=url)
    plan.ssh(hosts[0], command, note=note, changes=False)


def plan_swap(plan: PlanContext, back: bool) -> None:
    line = planned_line(plan, "primary")
    standby = planned_line(plan, "standby")
    if line is None or standby is None:
        return
    switch = plan.inventory.switch(line.switch)
    if not switch.managed or not (line.cross_connect_port and line.domain):
        why = (
            Text("该交换机不由 dr 管理", "the switch is not managed")
            if not switch.managed
            else Text(
                "该线路未填写 cross_connect_port/domain",
                "the line has no cross_connect_port/domain",
            )
        )
        plan.person(
            Text(
                f"按检查清单对调 {line.switch} {line.port} 与 {standby.switch} "
                f"{standby.port} 的网线",
                f"swap the cables of {line.switch} {line.port} and {standby.switch} "
                f"{standby.port} by the checklist",
            ),
            note=Text(f"人工操作：{why.zh}", f"by hand: {why.en}"),
        )
        return
    swap = swap_ports(line)
    out, into = (
        (swap.cross_connect_port, swap.port) if back else (swap.port, swap.cross_connect_port)
    )
    plan.switch(
        swap.switch,
        "detach",
        out,
        swap.domain,
        note=Text("先断开，两台交换机之间不会成环", "first, so the two switches never loop"),
    )
    plan.switch(swap.switch, "attach", into, swap.domain)
    plan.switch(swap.switch, "save")
