"""The runbook step that runs a playbook on each of its target hosts (`rb.playbook`).

Each host gets its own ansible-runner run limited to it, so the engine's fan-out,
timeouts, retries and `dr resume` treat it like any other per-host step, and the journal
keeps each host's recap (ok / changed / failed / unreachable) and failed tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.errors import StepFailed
from orchestrator.fleet.playbook import resolve_playbook, run_playbook

if TYPE_CHECKING:
    from orchestrator.engine.context import StepContext
    from orchestrator.inventory import Host


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
