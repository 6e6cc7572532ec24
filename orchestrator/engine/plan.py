"""Flattening a runbook (and the runbooks it includes) into the ordered steps that run,
and describing those steps as the rows of `dr plan` (values; the CLI only renders them):
each step's hosts and, from its plan hook, the devices and commands it will use, with
every problem found on the way (`make_plan`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.engine.inventory_places import InventoryPlaces
from orchestrator.engine.param_refs import check_param_values
from orchestrator.engine.plan_targets import Touch, survey
from orchestrator.errors import Problem, RunbookDefinitionError, UserInputError
from orchestrator.runbook import Condition, Runbook, Step, StepKind
from orchestrator.text import Lang

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory


@dataclass(frozen=True)
class PlannedStep:
    """A step at its place in the run: its path ("include-id/step-id") and its parameters."""

    path: str
    step: Step
    runbook: Runbook
    params: dict[str, Any]
    # Each condition with the parameters of the runbook that declared it: an include's
    # `when` reads the including runbook's parameters, not the included one's.
    conditions: tuple[tuple[Condition, dict[str, Any]], ...] = field(default=())


def flatten(
    runbook: Runbook, registry: RunbookRegistry, params: dict[str, Any]
) -> list[PlannedStep]:
    return _flatten(runbook, registry, params, prefix="", conditions=(), seen=(runbook.name,))


@dataclass(frozen=True)
class PlanRow:
    """One step as `dr plan` shows it: where it acts and what guards it."""

    id: str
    kind: str
    title: str
    hosts: tuple[str, ...]
    timeout_s: float | None
    retries: int
    destructive: bool
    conditional: bool
    verify: bool
    rollback: bool
    instructions: str | None
    # What the step's plan hook says it will reach and send (plan_targets.py).
    touches: tuple[Touch, ...] = ()

    @property
    def flags(self) -> tuple[str, ...]:
        """The guards that are on, in the words of the plan table."""
        named = (
            ("destructive", self.destructive),
            ("if", self.conditional),
            ("verify", self.verify),
            ("rollback", self.rollback),
        )
        return tuple(word for word, on in named if on)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "hosts": list(self.hosts),
            "touches": [t.to_dict() for t in self.touches],
        }


@dataclass(frozen=True)
class Plan:
    """`dr plan`'s answer: the rows, and every problem that would stop the run (each with
    FILE:LINE where the inventory says it), found without touching anything."""

    runbook: Runbook
    rows: list[PlanRow]
    problems: list[Problem]
    steps: list[PlannedStep]
    params: dict[str, Any]  # the runbook's own, resolved

    @property
    def touches(self) -> list[Touch]:
        return [t for row in self.rows for t in row.touches]


def make_plan(
    runbook: Runbook,
    registry: RunbookRegistry,
    given: dict[str, Any],
    inventory: Inventory,
    lang: Lang,
) -> Plan:
    """Resolve everything a run of `runbook` on `inventory` would use: parameter values
    against the inventory, each step's hosts, and (through the steps' plan hooks) the
    devices and commands, collecting every problem instead of stopping at the first."""
    params = resolve_params(runbook, given)
    steps = flatten(runbook, registry, params)
    places = InventoryPlaces(inventory)
    problems = check_param_values(steps, runbook, params, places)
    if problems:
        # Hosts and commands follow from the parameters: with a wrong one they would only
        # repeat the complaint.
        return Plan(runbook, [], problems, steps, params)
    rows = []
    for planned, row in zip(steps, _rows(steps, inventory, lang, places, problems), strict=True):
        touches, found = survey(planned, row.hosts, inventory, places)
        problems.extend(found)
        rows.append(replace(row, touches=tuple(touches)))
    return Plan(runbook, rows, _unique(problems), steps, params)


def _rows(
    steps: list[PlannedStep],
    inventory: Inventory,
    lang: Lang,
    places: InventoryPlaces,
    problems: list[Problem],
) -> list[PlanRow]:
    """`plan_rows`, with a step whose targets name no host reported as a problem."""
    rows = []
    for planned in steps:
        try:
            rows.extend(plan_rows([planned], inventory, lang))
        except UserInputError as err:
            problems.append(places.problem(("hosts",), f"step {planned.path}: {err.message}"))
            rows.extend(plan_rows([_untargeted(planned)], inventory, lang))
    return rows


def _untargeted(planned: PlannedStep) -> PlannedStep:
    return replace(planned, step=replace(planned.step, targets=None))


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def plan_rows(steps: list[PlannedStep], inventory: Inventory, lang: Lang) -> list[PlanRow]:
    """The plan table. Selecting each step's hosts also proves its targets name real hosts
    (UserInputError otherwise), the check a run makes before touching anything."""
    rows = []
    for planned in steps:
        step = planned.step
        hosts: tuple[str, ...] = ()
        if step.targets:
            selected = inventory.select_hosts(step.targets.format(**planned.params))
            hosts = tuple(h.name for h in selected)
        rows.append(
            PlanRow(
                id=planned.path,
                kind=str(step.kind),
                title=step.title(lang),
                hosts=hosts,
                timeout_s=step.timeout,
                retries=step.retries,
                destructive=step.destructive,
                conditional=bool(planned.conditions),
                verify=step.verify_fn is not None,
                rollback=step.rollback_fn is not None,
                instructions=step.instructions(lang) if step.instructions else None,
            )
        )
    return rows


def resolve_params(runbook: Runbook, given: dict[str, Any]) -> dict[str, Any]:
    """Defaults of the runbook, overridden by what the operator or the parent gave."""
    unknown = sorted(set(given) - set(runbook.params))
    if unknown:
        allowed = ", ".join(sorted(runbook.params)) or "none"
        raise RunbookDefinitionError(
            f"runbook {runbook.name} has no parameter {', '.join(unknown)}; its parameters: "
            f"{allowed}"
        )
    values = {name: param.default for name, param in runbook.params.items()}
    for name, value in given.items():
        values[name] = _coerce(value, runbook.params[name].default)
    return values


def _flatten(
    runbook: Runbook,
    registry: RunbookRegistry,
    params: dict[str, Any],
    *,
    prefix: str,
    conditions: tuple[tuple[Condition, dict[str, Any]], ...],
    seen: tuple[str, ...],
) -> list[PlannedStep]:
    planned: list[PlannedStep] = []
    for step in runbook.steps:
        path = f"{prefix}{step.id}"
        step_conditions = conditions + (((step.when, params),) if step.when else ())
        if step.kind is not StepKind.SUB_RUNBOOK:
            planned.append(PlannedStep(path, step, runbook, params, step_conditions))
            continue
        assert step.include is not None
        if step.include in seen:
            chain = " → ".join((*seen, step.include))
            raise RunbookDefinitionError(f"runbooks include each other in a loop: {chain}")
        child = registry.get(step.include)
        child_params = resolve_params(child, _render(step.include_params, params))
        planned.extend(
            _flatten(
                child,
                registry,
                child_params,
                prefix=f"{path}/",
                conditions=step_conditions,
                seen=(*seen, child.name),
            )
        )
    return planned


def _render(values: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """Lets an include pass its own parameters on: {"branch": "{branch}"}."""
    return {k: v.format(**params) if isinstance(v, str) else v for k, v in values.items()}


def _coerce(value: Any, default: Any) -> Any:
    """Parameters arrive from the command line as text; give them the default's type."""
    if not isinstance(value, str) or default is None or isinstance(default, str):
        return value
    try:
        if isinstance(default, bool):
            lowered = value.lower()
            if lowered not in ("true", "false", "yes", "no", "1", "0"):
                raise ValueError(value)
            return lowered in ("true", "yes", "1")
        return type(default)(value)
    except ValueError:
        raise RunbookDefinitionError(
            f"parameter value {value!r} is not a {type(default).__name__}"
        ) from None
