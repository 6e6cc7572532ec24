"""The runbook step that runs a playbook on each of its target hosts.

A runbook builds it here and adds it like any other step:

    from orchestrator.fleet.playbook_step import playbook_step

    rb.add(playbook_step("deploy-agent", "site.yml", targets="role:backup"))

It is an ordinary action step whose function is a `PlaybookAction`, so the engine's
fan-out, timeouts, retries and `dr resume` treat it like any other per-host step. Each
host gets its own ansible-runner run limited to it, and the journal keeps each host's
recap (ok / changed / failed / unreachable) and failed tasks. The builder lives with the
fleet, not on `Runbook`, so the authoring API never imports Ansible's side of the house.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StepFailed
from orchestrator.fleet.playbook import resolve_playbook, run_playbook
from orchestrator.runbook import Condition, Step, StepKind, seconds
from orchestrator.text import Text, as_text

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host


def playbook_step(
    id: str,
    playbook: str,
    *,
    targets: str,
    title: Text | str | None = None,
    extra_vars: dict[str, Any] | None = None,
    host_root: str | None = None,
    timeout: float | str | None = "30m",
    retries: int = 0,
    backoff: float | str = 1.0,
    destructive: bool = False,
    when: Condition | None = None,
    parallel: int | None = 4,
) -> Step:
    """A step that runs an Ansible playbook (ansible-runner) on each target host.

    `playbook` is absolute or relative to dr's ansible/ directory (e.g. "site.yml");
    `{param}`s in it, in `extra_vars` and in `host_root` are filled from the run's
    parameters. `parallel` is low by default: each host is one ansible-playbook process.
    `host_root` (drill lab only) deploys each host's files under HOST_ROOT/HOST.
    """
    limit = seconds(timeout)
    return Step(
        id=id,
        kind=StepKind.ACTION,
        title=as_text(title)
        or Text(zh=f"执行 Ansible 剧本 {playbook}", en=f"Run playbook {playbook}"),
        fn=PlaybookAction(playbook, extra_vars, host_root, timeout=limit),
        targets=targets,
        timeout=limit,
        retries=retries,
        backoff=seconds(backoff) or 0.0,
        destructive=destructive,
        when=when,
        parallel=parallel,
    )


class PlaybookAction:
    """Callable as a step function `fn(ctx, host)`; `{param}`s are filled from the run's
    parameters in the playbook name, extra vars and host root."""

    def __init__(
        self,
        playbook: str,
        extra_vars: dict[str, Any] | None = None,
        host_root: str | None = None,
        timeout: float | None = None,
    ) -> None:
        self.playbook = playbook
        self.extra_vars = dict(extra_vars or {})
        self.host_root = host_root
        self.timeout = timeout

    def __call__(self, ctx: StepContext, host: Host) -> dict[str, Any]:
        params = ctx.params
        playbook = resolve_playbook(self.playbook.format(**params))
        extra = {
            k: v.format(**params) if isinstance(v, str) else v for k, v in self.extra_vars.items()
        }
        root = self.host_root.format(**params) if self.host_root else ""
        run = run_playbook(
            ctx.inventory,
            playbook,
            limit=[host.name],
            extra_vars=extra,
            host_root=Path(root) if root else None,
            timeout=self.timeout,
        )
        recap = run.hosts.get(host.name)
        record = recap.to_record() if recap else {"status": "not run"}
        ctx.record(
            "ansible.playbook",
            {"playbook": str(playbook), "rc": run.rc, "runner_status": run.status, **record},
            host=host.name,
        )
        if recap is None or recap.status in ("failed", "unreachable") or run.rc != 0:
            why = "; ".join(recap.failures) if recap and recap.failures else run.status
            state = recap.status if recap else "not run"
            raise StepFailed(f"playbook {playbook.name} on {host.name}: {state}: {why}")
        return record
