"""Fleet check: every target host reaches the service (全网点业务连通性检查).

One read-only check, run on every target at once (bounded: 20 hosts at a time) with a
per-host time limit, so one unreachable branch shows up as that branch's failure and
never holds up the others. Each host's result in the journal says what it saw: the HTTP
status and time, and the route it took (which shows the line in use).

    dr drill fleet-check -i inventory/lab.yaml                   # every branch client
    dr run fleet-check -i PROD -p targets=site:xiguan --reason "after the carrier's work"
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from orchestrator.errors import StepFailed
from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Host

# How many hosts are checked at once, and how long one host may take in all (connect,
# route lookup, HTTP request) before it counts as failed; of that, the command may take
# COMMAND_TIMEOUT_S (the login shell's start dominates on a loaded host, not the curl).
PARALLEL = 20
HOST_TIMEOUT = "20s"
COMMAND_TIMEOUT_S = 15.0

rb = Runbook(
    "fleet-check",
    title=Text(zh="全网点业务连通性检查", en="Fleet check: every host reaches the service"),
    description=Text(
        zh="在所有目标主机上并行检查能否访问业务服务（只读）；不可达的主机单独报告，不影响其他主机。",
        en="Checks in parallel, read-only, that every target host reaches the service; an "
        "unreachable host is reported on its own and does not hold up the others.",
    ),
    system="branch-network",
    params={
        "targets": Param(
            "role:branch-client", "the hosts to check (a host selector)", refers_to="hosts"
        ),
        "pair": Param("credit", "the host pair whose service_url is checked", refers_to="pair"),
        "url": Param("", "check this URL instead of the pair's service_url"),
        "max_time": Param(3.0, "seconds one HTTP request may take"),
    },
)


def _url(ctx: StepContext) -> str:
    if ctx.params["url"]:
        return str(ctx.params["url"])
    url = ctx.inventory.pair(ctx.params["pair"]).service_url
    if url is None:
        pair = ctx.params["pair"]
        raise StepFailed(
            Text(
                zh=f"主备对 {pair} 没有 service_url：请在资产清单中填写，或用 -p url=... 指定",
                en=f"host pair {pair} has no service_url; set one in the inventory or give "
                "-p url=...",
            )
        )
    return str(url)


def probe_command(url: str, max_time: float) -> str:
    """Prints the route toward the service's address, then `HTTP_CODE SECONDS`."""
    address = urlsplit(url).hostname or ""
    route = f"ip -o route get {shlex.quote(address)} 2>&1 | head -n 1"
    curl = (
        f"curl -sS -o /dev/null -w '%{{http_code}} %{{time_total}}' "
        f"--max-time {max_time:g} {shlex.quote(url)}"
    )
    return f"{route}; {curl}"


@rb.check(
    "service-reachable",
    title=Text(zh="各主机访问业务服务", en="Each host reaches the service"),
    targets="{targets}",
    timeout=HOST_TIMEOUT,
    parallel=PARALLEL,
)
def service_reachable(ctx: StepContext, host: Host) -> Verdict:
    url = _url(ctx)
    max_time = float(ctx.params["max_time"])
    timeout = max(COMMAND_TIMEOUT_S, max_time + 2)
    result = ctx.ssh(host, probe_command(url, max_time), warn=True, timeout=timeout)
    lines = result.stdout.strip().splitlines()
    route = _route(lines[0]) if len(lines) > 1 else ""
    code, _, took = (lines[-1] if lines else "").partition(" ")
    if result.ok and code.startswith("2"):
        return Verdict(
            True,
            Text(
                zh=f"HTTP {code}，耗时 {float(took):.3f} 秒（路由 {route}）",
                en=f"HTTP {code} in {float(took):.3f}s ({route})",
            ),
        )
    why = (result.stderr or "").strip().splitlines()[-1:] or [f"HTTP {code or '-'}"]
    return Verdict(
        False,
        Text(
            zh=f"无法访问 {url}：{why[0]}（{f'路由 {route}' if route else '无路由'}）",
            en=f"{url} not reached: {why[0]} ({route or 'no route'})",
        ),
    )


def _route(line: str) -> str:
    """`10.77.1.10 via 10.78.1.1 dev eth0 src 10.78.1.2 uid 0 \\ cache` → "via 10.78.1.1
    dev eth0 src 10.78.1.2": the next hop and interface, i.e. the line in use."""
    words = line.split("\\")[0].split()[1:]
    if "uid" in words:
        words = words[: words.index("uid")]
    return " ".join(words)


@service_reachable.plan
def plan_service_reachable(plan: PlanContext, host: Host) -> None:
    """`dr plan`: the probe each host runs (read-only)."""
    url = str(plan.params["url"])
    if not url:
        pair = plan.inventory.pair(plan.params["pair"])
        if pair.service_url is None:
            plan.need(pair, "service_url", "the fleet check GETs it; or give -p url=...")
            return
        url = str(pair.service_url)
    plan.ssh(host, probe_command(url, float(plan.params["max_time"])), changes=False)
