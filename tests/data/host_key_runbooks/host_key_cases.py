"""Steps that reach a pair's primary over SSH as the pair runbooks do (reachability,
fencing, a wait): a primary whose host key has changed must stop each of them with the
host-key error, never read as "down" (tests/integration/test_host_key_changed.py)."""

from __future__ import annotations

from typing import Any

from orchestrator.errors import StepFailed
from orchestrator.runbook import Runbook, Verdict
from orchestrator.text import Text
from runbooks import _dual_host as pair_ops
from runbooks import _fencing as fencing


def _primary(ctx: Any) -> Any:
    return pair_ops.primary_of(ctx, pair_ops.the_pair(ctx))


probe = Runbook("probe-primary", title=Text(zh="探测主机", en="Probe the primary"))


@probe.check("primary-answers", retries=3, backoff=0)
def primary_answers(ctx: Any) -> Verdict:
    host = _primary(ctx)
    up = pair_ops.reachable(ctx, host)
    return Verdict(up, f"{host.name} {'answers' if up else 'is down'}")


fence = Runbook("fence-primary", title=Text(zh="隔离主机", en="Fence the primary"))


@fence.action("fence-over-ssh", retries=3, backoff=0)
def fence_over_ssh(ctx: Any) -> dict[str, object]:
    attempt = fencing.fence_over_ssh(ctx, pair_ops.the_pair(ctx), _primary(ctx))
    if not attempt.fenced:
        raise StepFailed(attempt.detail)
    return attempt.to_dict()


wait = Runbook("wait-for-primary-down", title=Text(zh="等待主机停止", en="Wait for it down"))


@wait.wait_until("primary-down", timeout=60, interval=0.5)
def primary_down(ctx: Any) -> Verdict:
    host = _primary(ctx)
    return Verdict(not pair_ops.reachable(ctx, host), f"{host.name} checked")
