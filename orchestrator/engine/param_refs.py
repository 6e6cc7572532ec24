"""Parameter values that name something in the inventory: checked before anything runs.

A runbook declares what a parameter refers to (`Param(refers_to="branch")`); a value
that names nothing of that kind is a mistake of the operator's (a typo, the wrong
inventory), reported with the inventory's file and line of the section to look in and
the names it holds. An empty value where the default is empty means "the first one",
which needs the inventory to have at least one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.errors import Problem, RunbookDefinitionError, UserInputError
from orchestrator.inventory.yaml_lines import DataPath, render_path

if TYPE_CHECKING:
    from orchestrator.engine.inventory_places import InventoryPlaces
    from orchestrator.engine.plan import PlannedStep
    from orchestrator.inventory import Inventory
    from orchestrator.runbook import Runbook


@dataclass(frozen=True)
class _Kind:
    noun: str
    plural: str
    section: DataPath
    names: Callable[[Inventory], list[str]]


def _branches(inventory: Inventory) -> list[str]:
    """The sites with lines: what a branch-line runbook can act on."""
    return list(dict.fromkeys(line.site for line in inventory.lines))


KINDS: dict[str, _Kind] = {
    "site": _Kind("site", "sites", ("sites",), lambda i: [s.name for s in i.sites]),
    "branch": _Kind("branch (a site with lines)", "branches", ("lines",), _branches),
    "host": _Kind("host", "hosts", ("hosts",), lambda i: [h.name for h in i.hosts]),
    "pair": _Kind("host pair", "pairs", ("host_pairs",), lambda i: [p.name for p in i.host_pairs]),
    "line": _Kind("line", "lines", ("lines",), lambda i: [x.name for x in i.lines]),
    "switch": _Kind("switch", "switches", ("switches",), lambda i: [s.name for s in i.switches]),
    "ups": _Kind("UPS", "UPS units", ("power", "ups"), lambda i: [u.name for u in i.power.ups]),
    "generator": _Kind(
        "generator",
        "generators",
        ("power", "generators"),
        lambda i: [g.name for g in i.power.generators],
    ),
    "backup-set": _Kind(
        "backup set", "backup sets", ("backup_sets",), lambda i: [s.name for s in i.backup_sets]
    ),
    "pitr-set": _Kind(
        "postgres-pitr backup set",
        "postgres-pitr sets",
        ("backup_sets",),
        lambda i: [s.name for s in i.pitr_sets],
    ),
}
# A host selector ("role:db,site:xiguan"): it must select at least one host.
HOSTS = "hosts"


def check_param_values(
    steps: list[PlannedStep],
    root: Runbook,
    root_params: dict[str, Any],
    places: InventoryPlaces,
    *,
    only: set[str] | None = None,
) -> list[Problem]:
    """Every parameter value, of the runbook and of the runbooks it includes, that names
    nothing in the inventory, or is not one of its choices (`only`: just these names)."""
    seen: set[tuple[str, str]] = set()
    problems: list[Problem] = []
    runs = [(root, root_params)] + [(p.runbook, p.params) for p in steps]
    for runbook, params in runs:
        for name, param in runbook.params.items():
            if only is not None and name not in only:
                continue
            value = params.get(name, param.default)
            key = (name, str(value))
            if key in seen:
                continue
            seen.add(key)
            message = _value_problem(runbook, name, value, places.inventory)
            if message is not None:
                kind = KINDS.get(str(param.refers_to))
                section = kind.section if kind is not None else ("hosts",)
                problems.append(places.problem(section, message))
    return problems


def _value_problem(runbook: Runbook, name: str, value: Any, inventory: Inventory) -> str | None:
    param = runbook.params[name]
    text = str(value)
    said = f"parameter {name}={text!r} of {runbook.name}"
    if param.choices and text not in param.choices:
        return f"{said}: use one of {', '.join(param.choices)}"
    kind = param.refers_to
    if kind is None:
        return None
    if kind == HOSTS:
        try:
            inventory.select_hosts(text)
        except UserInputError as err:
            return f"{said}: {err.message}"
        return None
    if kind not in KINDS:
        raise RunbookDefinitionError(
            f"runbook {runbook.name}: parameter {name} refers to {kind!r}; dr knows: "
            f"{', '.join([*KINDS, HOSTS])}"
        )
    about = KINDS[kind]
    names = about.names(inventory)
    where = render_path(about.section)
    if text == "" and param.default == "":
        # Empty means "the first one"; there must be one.
        return None if names else f"{said}: the inventory has no {about.plural} ({where})"
    if text in names:
        return None
    known = ", ".join(names) if names else "none"
    return f"{said}: no {about.noun} named {text!r} in the inventory; its {about.plural}: {known}"
