"""Restart the credit system's report-message service on its application hosts.

This is the complete example of docs/runbooks.md: every kind of step, a verify that
makes the run safe to resume, a rollback, an RTO mark and an RPO data point.
The service is any program started by `start_command` that answers HTTP on
`port`; the report-message files it writes live in `message_dir`.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.runbook import Param, Runbook, Verdict
from orchestrator.text import Text

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.engine.plan_targets import PlanContext
    from orchestrator.inventory import Host

rb = Runbook(
    "report-service-restart",
    title=Text(zh="重启征信报文服务", en="Restart the credit report-message service"),
    description=Text(
        zh="报文服务无响应时：确认故障、通知网点、重启服务并验证，记录 RTO/RPO。",
        en="When the report service stops answering: confirm, tell the branches, restart "
        "it, verify it, and record RTO and RPO.",
    ),
    system="credit-report",
    params={
        "hosts": Param("role:credit-app", "which hosts run the service", refers_to="hosts"),
        "service_dir": Param("/var/lib/credit-report", "working directory of the service"),
        "message_dir": Param("/var/lib/credit-report/messages", "report-message files"),
        "port": Param(8080, "HTTP port the service answers on"),
        "start_command": Param("python3 -m http.server", "command that starts the service"),
    },
)


def _pidfile(ctx: StepContext) -> str:
    return shlex.quote(f"{ctx.params['service_dir']}/service.pid")


def _answers(ctx: StepContext, host: Host) -> Verdict:
    probe = (
        f'python3 -c "import urllib.request,sys; urllib.request.urlopen('
        f"'http://127.0.0.1:{int(ctx.params['port'])}/', timeout=2); sys.exit(0)\""
    )
    result = ctx.ssh(host, probe, warn=True, timeout=10)
    # The probe is an HTTP GET on the host itself: it reads, never writes a message.
    return Verdict(
        result.ok,
        Text(
            zh=f"[探测：http] {'服务有应答' if result.ok else '服务无应答'}",
            en=f"[probe: http] {'answers' if result.ok else 'no answer'}",
        ),
    )


rb.mark_service_lost(title=Text(zh="宣布报文服务中断", en="Declare the report service down"))


@rb.check(
    "confirm-fault",
    targets="{hosts}",
    timeout="30s",
    title=Text(zh="确认服务无响应", en="Confirm the service does not answer"),
)
def confirm_fault(ctx: StepContext, host: Host) -> Verdict:
    answering = _answers(ctx, host).ok
    ctx.remember(f"was_answering:{host.name}", answering)
    # A drill may start with the service healthy: the restart is then the rehearsal.
    return Verdict(
        True,
        Text(zh="服务有应答", en="service answers")
        if answering
        else Text(zh="服务无应答（已确认故障）", en="service down (confirmed)"),
    )


rb.manual(
    "notify-branches",
    title=Text(zh="通知网点暂停报文报送", en="Tell the branches to hold report submission"),
    instructions=Text(
        zh="电话通知各网点：征信报文服务正在恢复，暂停报送，等待恢复通知。",
        en="Phone every branch: the report service is being restored; hold submissions "
        "until you call back.",
    ),
)


@rb.action(
    "stop-service",
    targets="{hosts}",
    timeout="30s",
    destructive=True,
    title=Text(zh="停止残留的服务进程", en="Stop what is left of the service"),
)
def stop_service(ctx: StepContext, host: Host) -> None:
    ctx.ssh(host, _stop_command(ctx.params))


@stop_service.plan
def plan_stop_service(plan: PlanContext, host: Host) -> None:
    plan.ssh(host, _stop_command(plan.params))


def _stop_command(params: dict[str, Any]) -> str:
    pidfile = shlex.quote(f"{params['service_dir']}/service.pid")
    return f"if [ -f {pidfile} ]; then kill $(cat {pidfile}) 2>/dev/null; rm -f {pidfile}; fi; true"


@stop_service.verify
def service_stopped(ctx: StepContext, host: Host) -> bool:
    return not _answers(ctx, host).ok


@rb.action(
    "start-service",
    targets="{hosts}",
    timeout="30s",
    retries=2,
    backoff="1s",
    title=Text(zh="启动报文服务", en="Start the report service"),
)
def start_service(ctx: StepContext, host: Host) -> dict[str, str]:
    workdir = shlex.quote(ctx.params["service_dir"])
    command = f"{ctx.params['start_command']} {int(ctx.params['port'])} --bind 127.0.0.1"
    ctx.ssh(
        host,
        f"mkdir -p {workdir} && cd {workdir} && "
        f"(setsid nohup {command} >service.log 2>&1 < /dev/null & "
        f"echo $! > {_pidfile(ctx)})",
    )
    pid = ctx.ssh(host, f"cat {_pidfile(ctx)}").stdout.strip()
    return {"pid": pid}


@start_service.verify
def service_started(ctx: StepContext, host: Host) -> bool:
    pidfile = _pidfile(ctx)
    return ctx.ssh(host, f"test -f {pidfile} && kill -0 $(cat {pidfile})", warn=True).ok


@start_service.rollback
def stop_half_started(ctx: StepContext, host: Host) -> None:
    stop_service.fn(ctx, host)  # type: ignore[misc]


@rb.wait_until(
    "service-answers",
    targets="{hosts}",
    timeout="60s",
    interval="0.5s",
    hold="2s",
    title=Text(
        zh="等待服务稳定应答（HTTP GET 探测）", en="Wait until the service answers (HTTP GET)"
    ),
)
def service_answers(ctx: StepContext, host: Host) -> Verdict:
    return _answers(ctx, host)


@rb.action(
    "find-last-message",
    targets="{hosts}",
    timeout="30s",
    title=Text(zh="确认最后一份报文（RPO）", en="Find the newest report message (RPO)"),
)
def find_last_message(ctx: StepContext, host: Host) -> dict[str, str]:
    directory = shlex.quote(ctx.params["message_dir"])
    newest = ctx.ssh(
        host,
        f"mkdir -p {directory} && find {directory} -type f -printf '%T@\\n' | sort -n | tail -1",
    )
    if newest.stdout.strip():
        at = datetime.fromtimestamp(float(newest.stdout.strip()), UTC)
        source = Text(f"{host.name} 上最新的报文", f"newest report message on {host.name}")
        ctx.mark_last_data_point(at, source=source)
        return {"newest_message_at": at.isoformat()}
    return {"newest_message_at": "none"}


rb.mark_service_restored(title=Text(zh="报文服务已恢复", en="Report service verified restored"))
