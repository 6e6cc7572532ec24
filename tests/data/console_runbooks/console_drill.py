"""A drill with an approval between two actions, for the console's tests: what runs goes
to the file named by `effects`, so a test sees that the approval really let it go on."""

from __future__ import annotations

import time
from typing import Any

from orchestrator.runbook import Param, Runbook
from orchestrator.text import Text

console_drill = Runbook(
    "console-drill",
    title=Text(zh="控制台审批演练", en="Console approval drill"),
    system="engine-test",
    params={"effects": Param("")},
)


def _log(ctx: Any, line: str) -> None:
    with open(ctx.params["effects"], "a") as handle:
        handle.write(line + "\n")


@console_drill.action("prepare", title=Text(zh="准备切换", en="Prepare the switch"))
def prepare(ctx: Any) -> None:
    _log(ctx, "prepared")


console_drill.approval(
    "leadership-ok",
    title=Text(zh="领导小组批准切换", en="Leadership approves the switch"),
    instructions=Text(zh="批准后将提升备用库。", en="Once approved, the standby is promoted."),
)


@console_drill.action("promote", title=Text(zh="提升备用库", en="Promote the standby"))
def promote(ctx: Any) -> None:
    # Long enough that the page shows the step running before it shows it done.
    time.sleep(1.5)
    _log(ctx, "promoted")
