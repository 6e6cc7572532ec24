"""Every alert route names a runbook that exists, with parameters it has: checked when
`dr alerts serve` starts, so a typo is found then and not in the middle of an outage."""

from __future__ import annotations

from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.errors import UserInputError
from orchestrator.inventory.models import Inventory


def check_routes(inventory: Inventory, registry: RunbookRegistry) -> None:
    problems = []
    for index, route in enumerate(inventory.alerts.routes):
        if route.runbook is None:
            continue
        where = f"alerts.routes[{index}]"
        try:
            runbook = registry.get(route.runbook)
        except UserInputError as err:
            problems.append(f"{where}: {err}")
            continue
        unknown = sorted(set(route.params) - set(runbook.params))
        if unknown:
            known = ", ".join(sorted(runbook.params)) or "none"
            problems.append(
                f"{where}: {route.runbook} has no parameter {', '.join(unknown)} (it has: {known})"
            )
        if route.auto_drill and inventory.environment != "drill":
            problems.append(
                f"{where}: auto_drill is for drill inventories only; a production alert "
                "names the runbook and a person runs it"
            )
    if problems:
        raise UserInputError(
            "alert routes do not fit the runbooks / 告警路由与预案不符:\n  " + "\n  ".join(problems)
        )
