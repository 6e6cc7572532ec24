"""The runbook authoring API: a runbook is an ordered list of steps.

A runbook module creates one `Runbook` and adds steps to it in the order they run:

    rb = Runbook("service-recovery", title=Text(zh="恢复报文服务", en="Recover the report service"),
                 system="credit")

    @rb.action("start-service", targets="role:credit-app", timeout="60s", retries=2)
    def start_service(ctx, host):
        ctx.ssh(host, "systemctl start credit-report").check()

    @start_service.verify
    def service_running(ctx, host):
        return ctx.ssh(host, "systemctl is-active credit-report").ok

Step kinds: action, check, wait-until, manual, approval, sub-runbook (`include`) and the
RTO/RPO markers. Every step may have a timeout, retries with backoff, a verify (which also
tells `dr resume` whether an interrupted step already took effect) and a rollback.
The engine runs the steps; a runbook never talks to the journal or a terminal itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from orchestrator.durations import EXAMPLES, parse_seconds
from orchestrator.errors import RunbookDefinitionError
from orchestrator.text import Lang, Text, as_text

StepFunction = Callable[..., Any]
Condition = Callable[[Any], bool]

_STEP_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


class StepKind(StrEnum):
    ACTION = "action"
    CHECK = "check"
    WAIT = "wait-until"
    MANUAL = "manual"
    APPROVAL = "approval"
    SUB_RUNBOOK = "sub-runbook"
    MARKER = "marker"


class Marker(StrEnum):
    SERVICE_LOST = "service_lost"
    SERVICE_RESTORED = "service_restored"


@dataclass(frozen=True)
class Verdict:
    """What a check returns when it has more to say than True or False."""

    ok: bool
    # A sentence for the operator: plain text, or a Text in Chinese and English.
    detail: str | Text = ""

    def sentence(self, lang: Lang = "en") -> str:
        """The detail in `lang` (plain text reads the same in both)."""
        return self.detail(lang) if isinstance(self.detail, Text) else self.detail


def seconds(value: float | int | str | None) -> float | None:
    """Durations in runbooks: seconds as a number, or text in the one grammar
    (`orchestrator.durations`): "90s", "5m", "1h30m", "0.5s"."""
    if value is None:
        return None
    try:
        return parse_seconds(value)
    except ValueError as err:
        raise RunbookDefinitionError(
            f"{err}; write seconds as a number or text like {EXAMPLES}"
        ) from None


@dataclass
class Step:
    """One step of a runbook. Made by the `Runbook` builders, or by a step kind's own
    builder (`orchestrator.fleet.playbook_step`) and then given to `Runbook.add`."""

    id: str
    kind: StepKind
    title: Text
    fn: StepFunction | None = None
    targets: str | None = None
    timeout: float | None = None
    retries: int = 0
    backoff: float = 1.0
    destructive: bool = False
    when: Condition | None = None
    parallel: int | None = None
    check_first: bool = False
    verify_fn: StepFunction | None = None
    rollback_fn: StepFunction | None = None
    # What `dr plan` and `dr preflight` show the step will touch (engine/plan_targets.py).
    plan_fn: StepFunction | None = None
    interval: float = 2.0
    hold: float = 0.0
    # A hold written as "{param}s" takes its length from a runbook parameter at run time.
    hold_template: str | None = None
    instructions: Text | None = None
    role: str | None = None
    include: str | None = None
    include_params: dict[str, Any] = field(default_factory=dict)
    marker: Marker | None = None

    def verify(self, fn: StepFunction) -> StepFunction:
        """Decorator: the function that tells whether this step has taken effect."""
        self.verify_fn = fn
        return fn

    def rollback(self, fn: StepFunction) -> StepFunction:
        """Decorator: the function that undoes this step when the run fails."""
        self.rollback_fn = fn
        return fn

    def plan(self, fn: StepFunction) -> StepFunction:
        """Decorator: `fn(plan)` (or `fn(plan, host)` with targets) names, without touching
        anything, the hosts, ports, devices and exact commands this step will use, and what
        it needs from the inventory (`orchestrator.engine.plan_targets.PlanContext`)."""
        self.plan_fn = fn
        return fn

    @property
    def per_host(self) -> bool:
        return self.targets is not None


@dataclass(frozen=True)
class Param:
    """A runbook parameter the operator may set with `--param NAME=VALUE`."""

    default: Any
    help: str = ""
    # What the value names in the inventory ("branch", "host", "hosts", "pair", "switch",
    # "ups", "generator", "backup-set", "pitr-set", "line", "site"), so that `dr plan` and
    # `dr preflight` refuse an unknown one, listing the known ones (engine/param_refs.py).
    refers_to: str | None = None
    # The values allowed, where the parameter is a choice (e.g. rewind, base-backup).
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class OutageWatch:
    """Which of the service watch's observations (orchestrator/service_watch) are this
    runbook's outage: the service (a host pair's name) and, where one place lost it, the
    vantage point that did (a branch). Templates over the run's parameters, e.g.
    `OutageWatch("{pair}", "{branch}")`; without a vantage, any vantage counts."""

    service: str
    vantage: str | None = None

    def resolve(self, params: dict[str, Any]) -> tuple[str, str | None]:
        values = {k: str(v) for k, v in params.items()}
        vantage = self.vantage.format(**values) if self.vantage is not None else None
        return self.service.format(**values), vantage


class Runbook:
    """An ordered procedure: its steps, its system (for RTO/RPO targets) and parameters."""

    def __init__(
        self,
        name: str,
        *,
        title: Text | str,
        description: Text | str | None = None,
        system: str | None = None,
        params: dict[str, Param] | None = None,
        on_failure: Literal["stop", "rollback"] = "stop",
        confirm_destructive: bool = True,
        outage_watch: OutageWatch | None = None,
    ) -> None:
        if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
            raise RunbookDefinitionError(
                f"runbook name {name!r}: use lower-case letters, digits and hyphens"
            )
        self.name = name
        self.title = as_text(title) or Text(zh=name, en=name)
        self.description = as_text(description)
        self.system = system
        self.params = params or {}
        self.on_failure = on_failure
        self.confirm_destructive = confirm_destructive
        # Where the RTO clock may learn when service was really lost (engine/measure.py).
        self.outage_watch = outage_watch
        self.steps: list[Step] = []
        self.source_file: str | None = None
        self.digest: str = ""

    def __repr__(self) -> str:
        return f"Runbook({self.name!r}, {len(self.steps)} steps)"

    # ---- step builders ---------------------------------------------------------------

    def action(
        self,
        id: str,
        *,
        title: Text | str | None = None,
        targets: str | None = None,
        timeout: float | str | None = None,
        retries: int = 0,
        backoff: float | str = 1.0,
        destructive: bool = False,
        when: Condition | None = None,
        parallel: int | None = None,
        check_first: bool = False,
    ) -> Callable[[StepFunction], Step]:
        """Decorator: a step that changes something. `fn(ctx)` or `fn(ctx, host)` with targets."""

        def add(fn: StepFunction) -> Step:
            return self.add(
                Step(
                    id=id,
                    kind=StepKind.ACTION,
                    title=_title(title, id),
                    fn=fn,
                    targets=targets,
                    timeout=seconds(timeout),
                    retries=retries,
                    backoff=seconds(backoff) or 0.0,
                    destructive=destructive,
                    when=when,
                    parallel=parallel,
                    check_first=check_first,
                )
            )

        return add

    def check(
        self,
        id: str,
        *,
        title: Text | str | None = None,
        targets: str | None = None,
        timeout: float | str | None = None,
        retries: int = 0,
        backoff: float | str = 1.0,
        when: Condition | None = None,
        parallel: int | None = None,
    ) -> Callable[[StepFunction], Step]:
        """Decorator: a condition evaluated once (with retries); False fails the step."""

        def add(fn: StepFunction) -> Step:
            return self.add(
                Step(
                    id=id,
                    kind=StepKind.CHECK,
                    title=_title(title, id),
                    fn=fn,
                    targets=targets,
                    timeout=seconds(timeout),
                    retries=retries,
                    backoff=seconds(backoff) or 0.0,
                    when=when,
                    parallel=parallel,
                )
            )

        return add

    def wait_until(
        self,
        id: str,
        *,
        timeout: float | str,
        title: Text | str | None = None,
        targets: str | None = None,
        interval: float | str = 2.0,
        hold: float | str = 0.0,
        when: Condition | None = None,
        parallel: int | None = None,
    ) -> Callable[[StepFunction], Step]:
        """Decorator: a condition polled every `interval` until it has held for `hold`.

        Fails when `timeout` passes first. With `hold`, a single False restarts the clock:
        "frequency within ±1 Hz for 60 s" means 60 s without a miss.
        """

        def add(fn: StepFunction) -> Step:
            return self.add(
                Step(
                    id=id,
                    kind=StepKind.WAIT,
                    title=_title(title, id),
                    fn=fn,
                    targets=targets,
                    timeout=seconds(timeout),
                    interval=seconds(interval) or 0.1,
                    hold=0.0 if _templated(hold) else seconds(hold) or 0.0,
                    hold_template=str(hold) if _templated(hold) else None,
                    when=when,
                    parallel=parallel,
                )
            )

        return add

    def manual(
        self,
        id: str,
        *,
        title: Text | str,
        instructions: Text | str,
        targets: str | None = None,
        when: Condition | None = None,
        destructive: bool = False,
    ) -> Step:
        """A task for a person: instructions in both languages, then their confirmation."""
        return self.add(
            Step(
                id=id,
                kind=StepKind.MANUAL,
                title=_title(title, id),
                targets=targets,
                instructions=as_text(instructions),
                when=when,
                destructive=destructive,
            )
        )

    def approval(
        self,
        id: str,
        *,
        title: Text | str,
        role: str = "leadership",
        instructions: Text | str | None = None,
        when: Condition | None = None,
    ) -> Step:
        """Waits for a person holding `role` (not the one who started the run) to approve."""
        return self.add(
            Step(
                id=id,
                kind=StepKind.APPROVAL,
                title=_title(title, id),
                role=role,
                instructions=as_text(instructions),
                when=when,
            )
        )

    def include(
        self,
        id: str,
        runbook: str,
        *,
        params: dict[str, Any] | None = None,
        when: Condition | None = None,
        title: Text | str | None = None,
    ) -> Step:
        """Runs another runbook's steps here, their ids prefixed with `id/`."""
        return self.add(
            Step(
                id=id,
                kind=StepKind.SUB_RUNBOOK,
                title=_title(title, f"{runbook}"),
                include=runbook,
                include_params=dict(params or {}),
                when=when,
            )
        )

    def mark_service_lost(
        self,
        id: str = "service-lost",
        *,
        title: Text | str | None = None,
        when: Condition | None = None,
    ) -> Step:
        """Marks now as the moment service was lost (when no step marked it earlier)."""
        return self.add(
            Step(
                id=id,
                kind=StepKind.MARKER,
                marker=Marker.SERVICE_LOST,
                when=when,
                title=as_text(title)
                or Text(zh="记录业务中断时间", en="Record when service was lost"),
            )
        )

    def mark_service_restored(
        self,
        id: str = "service-restored",
        *,
        title: Text | str | None = None,
        when: Condition | None = None,
    ) -> Step:
        """Marks now as the moment service was verified restored: RTO is measured here."""
        return self.add(
            Step(
                id=id,
                kind=StepKind.MARKER,
                marker=Marker.SERVICE_RESTORED,
                when=when,
                title=as_text(title)
                or Text(zh="记录业务恢复时间", en="Record when service was restored"),
            )
        )

    def add(self, step: Step) -> Step:
        """Appends a step that a step kind of another package built (the fleet's
        `playbook_step`); the builders above end here too."""
        if not _STEP_ID.match(step.id):
            raise RunbookDefinitionError(
                f"runbook {self.name}: step id {step.id!r}: use lower-case letters, digits and "
                "hyphens (at most 80)"
            )
        if any(existing.id == step.id for existing in self.steps):
            raise RunbookDefinitionError(f"runbook {self.name}: step id {step.id!r} is used twice")
        if step.retries < 0:
            raise RunbookDefinitionError(f"runbook {self.name}: step {step.id}: retries < 0")
        self.steps.append(step)
        return step

    def plan_by_id(self, hooks: Mapping[str, StepFunction]) -> None:
        """Give steps their plan hooks by step id, for runbooks that keep their plan code
        in a module of its own (runbooks/_*_plan.py); steps not named keep theirs."""
        for step in self.steps:
            hook = hooks.get(step.id)
            if hook is not None:
                step.plan(hook)


def _templated(value: float | int | str) -> bool:
    return isinstance(value, str) and "{" in value


def _title(title: Text | str | None, fallback: str) -> Text:
    return as_text(title) or Text(zh=fallback, en=fallback)
