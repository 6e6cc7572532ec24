"""Flattening a runbook (and the runbooks it includes) into the ordered steps that run,
and describing those steps as the rows of `dr plan` (values; the CLI only renders them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.errors import RunbookDefinitionError
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
        return {**asdict(self), "hosts": list(self.hosts)}


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
