"""Whether a branch reaches the service, by the site's `check:` in the inventory.

Teller PCs are mostly Windows and many branches have no host dr can log in to, so a
branch is checked the way the inventory says (orchestrator/inventory/probes.py): a host
there runs python3 (`ssh-python`) or a command (`ssh-command`) over SSH; this machine
opens a TCP connection to a device at the branch (`tcp-connect`); the data-centre switch
shows carrier on the ports the branch's traffic crosses (`switch-view`); or a person at
the branch confirms (`person`), which a runbook asks for in a manual step of its own: a
check function cannot wait for a person. A site without `check:` keeps the old way: the
runbook's `probe_command` on the site's first host. Every verdict starts with
`[check: KIND]`.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING

from orchestrator.errors import HostKeyRejected, StepFailed, TransportError
from orchestrator.inventory.command_templates import fill
from orchestrator.inventory.probes import (
    PersonCheck,
    SshCommandCheck,
    SshPythonCheck,
    SwitchViewCheck,
    TcpConnectCheck,
)
from orchestrator.runbook import Verdict
from orchestrator.text import Text
from runbooks import _probes

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host

# A TCP connection through a working line opens in well under this.
CONNECT_TIMEOUT_S = 3.0
# Without a `check:`, a command over SSH on the site's first host.
DEFAULT_KIND = "ssh-command"


def kind_of(ctx: StepContext, site: str) -> str:
    check = ctx.inventory.site(site).check
    return check.kind if check is not None else DEFAULT_KIND


def by_person(ctx: StepContext, site: str) -> bool:
    return isinstance(ctx.inventory.site(site).check, PersonCheck)


def person_instructions(ctx: StepContext, site: str) -> Text:
    """What to ask the person at `site`: the inventory's words when it has them."""
    check = ctx.inventory.site(site).check
    phone = check.phone if isinstance(check, PersonCheck) and check.phone else None
    call = f"（电话 {phone}）" if phone else ""
    call_en = f" (phone {phone})" if phone else ""
    extra = check.instructions if isinstance(check, PersonCheck) and check.instructions else ""
    return Text(
        zh=f"请网点 {site}{call}的工作人员打开征信系统，查询一笔业务（不要新增业务），"
        f"确认能正常使用后再确认本步。{extra}",
        en=f"Ask the staff at branch {site}{call_en} to open the credit system and look up a "
        f"record (not to enter a new one); confirm here once it works for them. {extra}",
    )


def check_branch(
    ctx: StepContext,
    site: str,
    url: str,
    *,
    default_command: str,
    ports: list[tuple[str, str]],
) -> Verdict:
    """Whether branch `site` reaches the service at `url`. `ports` are the (switch, port)
    pairs its traffic now crosses, for `switch-view`; `default_command` is the runbook's
    command for a site without `check:`."""
    kind = kind_of(ctx, site)
    verdict = _check(ctx, site, url, default_command=default_command, ports=ports)
    return Verdict(
        verdict.ok,
        Text(
            zh=f"[检查方式：{kind}] {verdict.sentence('zh')}",
            en=f"[check: {kind}] {verdict.sentence('en')}",
        ),
    )


def _check(
    ctx: StepContext,
    site: str,
    url: str,
    *,
    default_command: str,
    ports: list[tuple[str, str]],
) -> Verdict:
    check = ctx.inventory.site(site).check
    if check is None:
        return _over_ssh(ctx, _host(ctx, site, None), fill(default_command, url=url), url)
    if isinstance(check, SshCommandCheck):
        return _over_ssh(ctx, _host(ctx, site, check.host), fill(check.command, url=url), url)
    if isinstance(check, SshPythonCheck):
        host = _host(ctx, site, check.host)
        arguments = {"url": url, "timeout": _probes.REQUEST_TIMEOUT_S}
        status = _probes.run_script(ctx, host, arguments).get("status")
        return Verdict(
            status == 200,
            Text(
                zh=f"{host.name}：GET {url} 返回 {status}",
                en=f"{host.name}: GET {url} answered {status}",
            ),
        )
    if isinstance(check, TcpConnectCheck):
        return _tcp_connect(ctx, site, str(check.address), check.port)
    if isinstance(check, SwitchViewCheck):
        return _switch_view(ctx, ports)
    raise StepFailed(
        Text(
            zh=f"网点 {site} 由人工验证（check: person）：预案在人工步骤中询问，不在此处检查",
            en=f"branch {site} is checked by a person (check: person): the runbook asks in a "
            "manual step, not here",
        )
    )


def _host(ctx: StepContext, site: str, name: str | None) -> Host:
    if name is not None:
        return ctx.inventory.host(name)
    hosts = ctx.hosts(f"site:{site}")
    if not hosts:
        raise StepFailed(
            Text(
                zh=f"网点 {site} 没有可用来检查业务的主机：请为该网点加上 `check:`"
                "（方式：ssh-python、ssh-command、tcp-connect、switch-view、person）",
                en=f"site {site} has no host to check the service from: add `check:` to the "
                "site (kinds: ssh-python, ssh-command, tcp-connect, switch-view, person)",
            )
        )
    return hosts[0]


def _over_ssh(ctx: StepContext, host: Host, command: str, url: str) -> Verdict:
    try:
        ok = ctx.ssh(host, command, warn=True, timeout=10).ok
    except HostKeyRejected:
        raise  # a refused key is not a down host: stop the run
    except TransportError as err:
        return Verdict(
            False,
            Text(
                zh=f"{host.name} 的 SSH 无应答（{err.message}）",
                en=f"{host.name} does not answer over SSH ({err.message})",
            ),
        )
    return Verdict(
        ok,
        Text(
            zh=f"{host.name} {'可以访问' if ok else '无法访问'} {url}",
            en=f"{host.name} {'reaches' if ok else 'cannot reach'} {url}",
        ),
    )


def _tcp_connect(ctx: StepContext, site: str, address: str, port: int) -> Verdict:
    try:
        socket.create_connection((address, port), CONNECT_TIMEOUT_S).close()
        ok = True
        detail = Text(
            zh=f"网点 {site} 的 {address}:{port} 可从本机建立连接",
            en=f"{address}:{port} at {site} accepts a connection from here",
        )
    except OSError as err:
        ok, why = False, err.strerror or str(err)
        detail = Text(
            zh=f"网点 {site} 的 {address}:{port} 无法连接：{why}",
            en=f"{address}:{port} at {site}: {why}",
        )
    ctx.record("branch_check", {"kind": "tcp-connect", "site": site, "ok": ok, "detail": detail.en})
    return Verdict(ok, detail)


def _switch_view(ctx: StepContext, ports: list[tuple[str, str]]) -> Verdict:
    unmanaged = [name for name, _ in ports if not ctx.inventory.switch(name).managed]
    if unmanaged:
        named = ", ".join(sorted(set(unmanaged)))
        return Verdict(
            False,
            Text(
                zh=f"交换机 {named} 不受 dr 管理，看不到其端口状态：请改为给该网点配置 "
                "`check: {kind: person}`",
                en=f"switch {named} is not managed: dr cannot see its ports; give the site "
                "`check: {kind: person}` instead",
            ),
        )
    if not ports:
        return Verdict(
            False,
            Text(
                zh="资产清单中没有承载该网点的交换机端口",
                en="no switch port carries this branch in the inventory",
            ),
        )
    dark = [f"{name} {port}" for name, port in ports if not _carrier(ctx, name, port)]
    if dark:
        shown = ", ".join(dark)
        return Verdict(False, Text(zh=f"{shown} 无载波", en=f"no carrier on {shown}"))
    shown = ", ".join(f"{n} {p}" for n, p in ports)
    return Verdict(True, Text(zh=f"{shown} 有载波", en=f"carrier on {shown}"))


def _carrier(ctx: StepContext, switch: str, port: str) -> bool:
    try:
        return ctx.switch(switch).port_status(port).link_up
    except HostKeyRejected:
        raise  # a refused key is not a dead switch: stop the run
    except TransportError:
        return False
