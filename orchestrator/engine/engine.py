"""The engine: carries a runbook out, step by step, recording everything in the journal.

It knows nothing of any particular procedure (that is the runbook's) nor of terminals
(the CLI supplies an OperatorIO and an observer).
"""

from __future__ import annotations

import os
import secrets
import socket
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.engine import approval_roster, approvals
from orchestrator.engine import messages as say
from orchestrator.engine.admission import admit_run
from orchestrator.engine.attempts import DONE, HostOutcome, describe, run_on_host, run_rollback
from orchestrator.engine.confirmation import what_changes
from orchestrator.engine.context import StepContext, record_marker
from orchestrator.engine.discovery import RunbookRegistry
from orchestrator.engine.inventory_places import InventoryPlaces
from orchestrator.engine.measure import record_measurements
from orchestrator.engine.modes import check_mode
from orchestrator.engine.observer import RunObserver, SilentObserver
from orchestrator.engine.operator import Answer, NoOperator, OperatorIO
from orchestrator.engine.outcome import RunOutcome
from orchestrator.engine.param_refs import check_param_values
from orchestrator.engine.plan import PlannedStep, flatten, resolve_params
from orchestrator.engine.resume import check_resumable, restore_state
from orchestrator.engine.signals import pause_on_interrupt
from orchestrator.engine.state import RunOptions, RunState
from orchestrator.errors import PlanRefused
from orchestrator.identity.code_delivery import send_codes
from orchestrator.journal import Journal
from orchestrator.journal.records import RunRecord, StepRecord
from orchestrator.journal.statuses import worst
from orchestrator.runbook import Marker, Runbook, StepKind
from orchestrator.text import Text
from orchestrator.transports.netdev import SwitchSessions
from orchestrator.transports.ssh import SshTransport

if TYPE_CHECKING:
    from orchestrator.inventory import Host, Inventory

DEFAULT_PARALLEL = 32
Prior = dict[tuple[str, str], StepRecord]


class Engine:
    def __init__(
        self,
        journal: Journal,
        registry: RunbookRegistry,
        *,
        observer: RunObserver | None = None,
        operator_io: OperatorIO | None = None,
        ssh: SshTransport | None = None,
        switches: SwitchSessions | None = None,
    ) -> None:
        self.journal = journal
        self.registry = registry
        self.observer = observer or SilentObserver()
        self.operator_io = operator_io or NoOperator()
        self.ssh = ssh or SshTransport()
        self.switches = switches or SwitchSessions()

    # ---- entry points ----------------------------------------------------------------

    def start(self, runbook_name: str, inventory: Inventory, options: RunOptions) -> RunOutcome:
        runbook = self.registry.get(runbook_name)
        admit_run(options, inventory, self.journal)
        params = resolve_params(runbook, options.params)
        plan = flatten(runbook, self.registry, params)
        preflight_targets(plan, inventory, runbook, params, given=set(options.params))
        record = RunRecord(
            id=new_run_id(),
            runbook=runbook.name,
            runbook_digest=runbook.digest,
            mode=options.mode,
            status="running",
            inventory_path=str(inventory.source_path),
            inventory_digest=inventory.digest,
            inventory_name=inventory.name,
            environment=inventory.environment,
            started_by=options.operator,
            started_at=datetime.now(UTC).isoformat(timespec="microseconds"),
            reason=options.reason,
            incident_id=options.incident_id,
            params=params,
            options={
                "lang": options.lang,
                "auto_confirm": options.auto_confirm,
                # Who started it, and how we know: approvals are refused to this person.
                "starter": options.person.to_dict() if options.person else None,
            },
            owner_pid=os.getpid(),
            owner_host=socket.gethostname(),
        )
        self.journal.create_run(record)
        state = self._state(record, inventory, options)
        with self.journal.run_lease().hold(record.id):
            return self._execute(state, runbook, plan, prior={}, resumed=False)

    def resume(
        self,
        run_id: str,
        inventory: Inventory,
        options: RunOptions,
        *,
        allow_changed: bool = False,
    ) -> RunOutcome:
        self.journal.get_run(run_id)  # an unknown run is refused before any lease is taken
        # The lease first: of two resumes of one run, only its holder reads and goes on.
        with self.journal.run_lease().hold(run_id):
            return self._resume(run_id, inventory, options, allow_changed=allow_changed)

    def _resume(
        self, run_id: str, inventory: Inventory, options: RunOptions, *, allow_changed: bool
    ) -> RunOutcome:
        record = self.journal.get_run(run_id)
        runbook = self.registry.get(record.runbook)
        check_resumable(record, runbook, inventory, allow_changed=allow_changed)
        check_mode(
            record.mode,
            environment=inventory.environment,
            inventory_name=inventory.name,
            auto_confirm=options.auto_confirm,
            reason=record.reason,
            incident_id=record.incident_id,
        )
        plan = flatten(runbook, self.registry, dict(record.params))
        self.journal.claim_run(
            run_id, pid=os.getpid(), host=socket.gethostname(), actor=options.operator
        )
        state = self._state(self.journal.get_run(run_id), inventory, options)
        restore_state(state)
        prior = {(s.step_id, s.host): s for s in self.journal.steps(run_id)}
        return self._execute(state, runbook, plan, prior=prior, resumed=True)

    # ---- the run loop ----------------------------------------------------------------

    def _execute(
        self,
        state: RunState,
        runbook: Runbook,
        plan: list[PlannedStep],
        *,
        prior: Prior,
        resumed: bool,
    ) -> RunOutcome:
        self.observer.run_started(state.run_id, runbook.name, state.record.mode, resumed)
        current = plan[0].path if plan else ""
        try:
            with pause_on_interrupt(state.pause_requested, self.observer.message):
                for planned in plan:
                    current = planned.path
                    if state.pause_requested.is_set():
                        return self._pause(state, planned.path)
                    status = self._run_step(state, runbook, planned, prior)
                    if status in ("succeeded", "skipped"):
                        continue
                    if status == "interrupted":
                        return self._pause(state, planned.path)
                    if status == "waiting":
                        return self._finish(state, "waiting", _waiting_message(state, planned))
                    if status == "declined":
                        return self._finish(state, "aborted", say.DECLINED(step=planned.path))
                    return self._fail(state, runbook, plan, planned)
        except KeyboardInterrupt:
            return self._pause(state, current, forced=True)
        record_measurements(state, runbook, finished_ok=True)
        return self._finish(state, "succeeded", say.ALL_SUCCEEDED())

    def _run_step(
        self, state: RunState, runbook: Runbook, planned: PlannedStep, prior: Prior
    ) -> str:
        step = planned.step
        mine = {host: rec for (path, host), rec in prior.items() if path == planned.path}
        ctx = StepContext(state, planned.path, planned.params)
        if not step.per_host and mine.get("") and mine[""].status in DONE:
            self._said(state, planned.path, mine[""].status, say.DONE_BEFORE_RESUME())
            return "succeeded"
        try:
            applies = all(
                condition(StepContext(state, planned.path, declared_with))
                for condition, declared_with in planned.conditions
            )
        except Exception as err:
            self._record(
                state, planned, "failed", error=say.CONDITION_FAILED(error=describe(err)).en
            )
            return "failed"
        if not applies:
            self._record(state, planned, "skipped", result={"reason": "condition not met"})
            self._said(state, planned.path, "skipped", say.CONDITION_NOT_MET())
            return "skipped"
        title = step.title(state.options.lang)
        if step.kind is StepKind.MARKER:
            assert step.marker is not None
            self.observer.step_started(planned.path, title, [])
            record_marker(state, step.marker, None, planned.path, {})
            self._record(state, planned, "succeeded")
            if step.marker is Marker.SERVICE_RESTORED:
                record_measurements(state, runbook, finished_ok=False)
            self.observer.step_finished(planned.path, "succeeded", "")
            return "succeeded"
        hosts = ctx.hosts(step.targets) if step.targets else []
        if step.kind is StepKind.MANUAL:
            return self._manual(state, planned, title, [h.name for h in hosts])
        if step.kind is StepKind.APPROVAL:
            return self._approval(state, planned, title)
        if step.destructive and state.record.mode == "live" and runbook.confirm_destructive:
            answer = self.operator_io.ask_proceed(title, what_changes(state, planned, hosts))
            if answer is not Answer.YES:
                status = "declined" if answer is Answer.NO else "waiting"
                self._record(state, planned, status, actor=state.options.operator)
                return status
        return self._run_on_hosts(state, planned, title, hosts, mine)

    def _run_on_hosts(
        self,
        state: RunState,
        planned: PlannedStep,
        title: str,
        hosts: list[Host],
        mine: dict[str, StepRecord],
    ) -> str:
        step = planned.step
        if not step.per_host:
            self.observer.step_started(planned.path, title, [])
            outcome = run_on_host(state, planned, None, mine.get(""))
            self.observer.step_finished(planned.path, outcome.status, outcome.detail)
            return self._after_failure(state, planned, [outcome], {})
        todo = [h for h in hosts if not (h.name in mine and mine[h.name].status in DONE)]
        self.observer.step_started(planned.path, title, [h.name for h in todo])
        by_name = {h.name: h for h in todo}
        outcomes = self._fan_out(state, planned, todo, mine)
        overall = worst(o.status for o in outcomes)
        failed = [o.host for o in outcomes if o.status == "failed"]
        done = say.HOSTS_DONE(done=len(todo) - len(failed), total=len(todo))
        self._said(state, planned.path, overall, done if todo else say.NO_HOST())
        return self._after_failure(state, planned, outcomes, by_name)

    def _fan_out(
        self,
        state: RunState,
        planned: PlannedStep,
        hosts: list[Host],
        mine: dict[str, StepRecord],
    ) -> list[HostOutcome]:
        if not hosts:
            return []
        width = min(len(hosts), planned.step.parallel or DEFAULT_PARALLEL)

        def one(host: Host) -> HostOutcome:
            outcome = run_on_host(state, planned, host, mine.get(host.name))
            self.observer.host_finished(planned.path, host.name, outcome.status, outcome.detail)
            return outcome

        if width == 1:
            return [one(h) for h in hosts]
        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="dr-host") as pool:
            return list(pool.map(one, hosts))

    def _after_failure(
        self,
        state: RunState,
        planned: PlannedStep,
        outcomes: list[HostOutcome],
        hosts: dict[str, Host],
    ) -> str:
        """A failed step's own rollback runs on the hosts where it failed."""
        status = worst(o.status for o in outcomes)
        if status == "failed" and planned.step.rollback_fn is not None:
            for outcome in outcomes:
                if outcome.status == "failed":
                    run_rollback(state, planned, hosts.get(outcome.host))
        return status

    # ---- people ----------------------------------------------------------------------

    def _manual(self, state: RunState, planned: PlannedStep, title: str, hosts: list[str]) -> str:
        step = planned.step
        instructions = step.instructions(state.options.lang) if step.instructions else ""
        self.observer.step_started(planned.path, title, hosts)
        if state.options.auto_confirm:
            self._record(
                state,
                planned,
                "succeeded",
                actor="auto-confirm (drill)",
                result={"confirmed_by": "auto-confirm (drill)"},
            )
            self._said(state, planned.path, "succeeded", say.AUTO_CONFIRMED())
            return "succeeded"
        answer = self.operator_io.ask_done(title, instructions, hosts)
        if answer is Answer.YES:
            self._record(
                state,
                planned,
                "succeeded",
                actor=state.options.operator,
                result={"confirmed_by": state.options.operator},
            )
            who = state.options.operator
            self._said(state, planned.path, "succeeded", say.CONFIRMED_BY(who=who))
            return "succeeded"
        status = "declined" if answer is Answer.NO else "waiting"
        self._record(state, planned, status, actor=state.options.operator)
        return status

    def _approval(self, state: RunState, planned: PlannedStep, title: str) -> str:
        step = planned.step
        self.observer.step_started(planned.path, title, [])
        roster = approval_roster.fix(
            self.journal, state.inventory, state.record, planned.path, step.role or "leadership"
        )
        approved = approvals.find(self.journal, state.run_id, planned.path, state.inventory)
        if state.options.auto_confirm and approved is None:
            # A drill approves unattended only through the inventory's drill roster.
            approvals.record_drill_approval(state, planned.path, roster)
        if approvals.find(self.journal, state.run_id, planned.path, state.inventory) is None:
            self._record(state, planned, "waiting", result={"role": step.role})
            sent = send_codes(
                self.journal,
                state.inventory,
                run_id=state.run_id,
                step_path=planned.path,
                members=roster.members,
                plan=_plan_text(step.title, step.instructions),
            )
            self.operator_io.wait_notice(_approval_notice(state, planned, roster.members, sent))
        approval = approvals.wait_for(
            state, planned.path, poll=getattr(self.operator_io, "interactive", False)
        )
        if approval is None:
            return "interrupted" if state.pause_requested.is_set() else "waiting"
        proof = str((approval.data or {}).get("proof") or "")
        if approval.kind == approvals.REFUSED_EVENT:
            refused = {"refused_by": approval.actor, "role": step.role, "proof": proof}
            self._record(state, planned, "declined", actor=approval.actor, result=refused)
            self._said(state, planned.path, "declined", say.REFUSED_BY(who=approval.actor))
            return "declined"
        self._record(
            state,
            planned,
            "succeeded",
            actor=approval.actor,
            result={"approved_by": approval.actor, "role": step.role, "proof": proof},
        )
        self._said(state, planned.path, "succeeded", say.APPROVED_BY(who=approval.actor))
        return "succeeded"

    # ---- endings ---------------------------------------------------------------------

    def _fail(
        self, state: RunState, runbook: Runbook, plan: list[PlannedStep], failed: PlannedStep
    ) -> RunOutcome:
        if runbook.on_failure != "rollback":
            return self._finish(
                state, "failed", say.STEP_FAILED(step=failed.path, run=state.run_id)
            )
        done = plan[: plan.index(failed)]
        for planned in reversed(done):
            if planned.step.rollback_fn is None:
                continue
            for row in self.journal.steps(state.run_id):
                if row.step_id == planned.path and row.status == "succeeded":
                    host = state.inventory.host(row.host) if row.host else None
                    outcome = run_rollback(state, planned, host)
                    rollback = say.rollback_said(outcome.status)(state.options.lang)
                    self.observer.host_finished(planned.path, row.host, outcome.status, rollback)
        return self._finish(state, "rolled_back", say.ROLLED_BACK(step=failed.path))

    def _pause(self, state: RunState, path: str, *, forced: bool = False) -> RunOutcome:
        how = say.STOPPED_AT_ONCE if forced else say.PAUSED
        return self._finish(state, "paused", how(step=path, run=state.run_id))

    def _finish(self, state: RunState, status: str, message: Text) -> RunOutcome:
        """The journal keeps the English; the operator reads the run's language."""
        final = status in ("succeeded", "rolled_back")
        self.journal.set_run_status(
            state.run_id, status, detail=message.en, finished=final, actor=state.options.operator
        )
        anchor = self._anchor(state)
        return RunOutcome(state.run_id, status, message.en + anchor, message.zh + anchor)

    def _said(self, state: RunState, path: str, status: str, detail: Text) -> None:
        self.observer.step_finished(path, status, detail(state.options.lang))

    def _anchor(self, state: RunState) -> str:
        """The journal's head, written outside its database at the end of every run.
        A failed anchor is journaled and flagged in the run's message; it never changes
        how the run ended (orchestrator/anchors/write.py)."""
        from orchestrator.anchors.write import anchor_journal

        results = anchor_journal(self.journal, state.inventory, ssh=self.ssh, run_id=state.run_id)
        failed = [f"{r.where}: {r.error}" for r in results if not r.ok]
        if not failed:
            return ""
        return (
            f"; WARNING: the journal anchor could not be written to {'; '.join(failed)} "
            "/ 警告：日志锚点写入失败"
        )

    # ---- helpers ---------------------------------------------------------------------

    def _record(
        self,
        state: RunState,
        planned: PlannedStep,
        status: str,
        *,
        result: Any = None,
        error: str | None = None,
        actor: str | None = None,
    ) -> None:
        self.journal.step_finished(
            state.run_id,
            planned.path,
            "",
            kind=planned.step.kind,
            status=status,
            result=result,
            error=error,
            actor=actor,
        )

    def _state(self, record: RunRecord, inventory: Inventory, options: RunOptions) -> RunState:
        return RunState(
            record=record,
            inventory=inventory,
            journal=self.journal,
            options=options,
            observer=self.observer,
            operator_io=self.operator_io,
            ssh=self.ssh,
            switches=self.switches,
        )


def preflight_targets(
    plan: list[PlannedStep],
    inventory: Inventory,
    runbook: Runbook,
    params: dict[str, Any],
    *,
    given: set[str],
) -> None:
    """Every parameter value the operator gave must name something the inventory has (as
    `dr plan` checks; a default a run never uses is the plan's to question, not a reason
    to refuse), and every step's targets real hosts, before anything is touched."""
    places = InventoryPlaces(inventory)
    problems = check_param_values(plan, runbook, params, places, only=given)
    if problems:
        raise PlanRefused(problems)
    for planned in plan:
        if planned.step.targets:
            inventory.select_hosts(planned.step.targets.format(**planned.params))


def new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _waiting_message(state: RunState, planned: PlannedStep) -> Text:
    if planned.step.kind is StepKind.APPROVAL:
        return say.WAITS_FOR_APPROVAL(step=planned.path, role=planned.step.role, run=state.run_id)
    return say.WAITS_FOR_PERSON(step=planned.path, run=state.run_id)


def _approval_notice(
    state: RunState, planned: PlannedStep, members: tuple[str, ...], sent: list[str]
) -> str:
    notice = say.approval_notice(
        role=str(planned.step.role), run=state.run_id, step=planned.path, members=members, sent=sent
    )
    return notice(state.options.lang)


def _plan_text(title: Text, instructions: Text | None) -> Text:
    """What the approver is asked to approve, as their message shows it."""
    if instructions is None:
        return title
    return Text(zh=f"{title.zh}\n{instructions.zh}", en=f"{title.en}\n{instructions.en}")
