"""Runbooks that run commands on the orchestrator's own machine through `ctx.local`: one
command given by parameters, and the `command` fencing method of runbooks/_fencing.py."""

from __future__ import annotations

from typing import Any

from orchestrator.inventory import CommandFence
from orchestrator.runbook import Param, Runbook
from runbooks import _fencing as fencing

local = Runbook(
    "local-command",
    title="A local command",
    params={
        "command": Param("true"),
        "timeout": Param(10.0),
        "warn": Param(False),
        "secret": Param(""),
    },
)


@local.action("run", timeout=None)
def run(ctx: Any) -> dict[str, Any]:
    env = {"DR_TEST_SECRET": str(ctx.params["secret"])} if ctx.params["secret"] else None
    result = ctx.local(
        str(ctx.params["command"]),
        about="app-1",
        timeout=float(ctx.params["timeout"]),
        env=env,
        warn=bool(ctx.params["warn"]),
    )
    return {"exited": result.exited, "stdout": result.stdout}


fence = Runbook("fence-by-command", title="Fence by command", params={"command": Param("true")})


@fence.action("fence", timeout=None)
def fence_app_1(ctx: Any) -> dict[str, object]:
    method = CommandFence(method="command", command=str(ctx.params["command"]))
    return fencing.fence_by_command(ctx, method, ctx.inventory.host("app-1")).to_dict()
