"""Running one step on one host: attempts, retries with backoff, timeouts, verify, waits."""

from __future__ import annotations

import json
import threading
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.engine import messages as say
from orchestrator.engine.context import StepContext
from orchestrator.engine.plan import PlannedStep
from orchestrator.engine.state import RunState
from orchestrator.errors import DrError, HostKeyRejected, JournalError, StepFailed
from orchestrator.journal.records import StepRecord
from orchestrator.runbook import StepKind, Verdict, seconds
from orchestrator.text import Lang, Text, as_text

if TYPE_CHECKING:
    from orchestrator.inventory import Host

# Statuses after which a step (on a host) is not run again by `dr resume`.
DONE = frozenset({"succeeded", "skipped"})


@dataclass(frozen=True)
class HostOutcome:
    host: str
    status: str  # succeeded | failed | interrupted
    detail: str = ""


class StepTimedOut(Exception):
    def __init__(self, timeout: float) -> None:
        self.text = say.TIMED_OUT(seconds=f"{timeout:g}")
        super().__init__(self.text.en)


def run_on_host(
    state: RunState, planned: PlannedStep, host: Host | None, prior: StepRecord | None
) -> HostOutcome:
    """Run the step on `host` (None: once), with its verify, retries and waits.

    A refused host key fails the step at once, with no retry and no more polls: it is
    not a transient fault but a host that may be someone else (errors.HostKeyRejected),
    and only a person who has checked the key out of band can decide to go on."""
    try:
        return _run_on_host(state, planned, host, prior)
    except HostKeyRejected as err:
        name = host.name if host is not None else ""
        return _failed(state, planned, name, Text(zh=err.message, en=err.message))


def _run_on_host(
    state: RunState, planned: PlannedStep, host: Host | None, prior: StepRecord | None
) -> HostOutcome:
    step = planned.step
    ctx = StepContext(state, planned.path, planned.params)
    args: tuple[Any, ...] = (ctx, host) if host is not None else (ctx,)
    name = host.name if host is not None else ""
    journal = state.journal

    # An interrupted or failed attempt may have taken effect before it was cut off: ask
    # the step's verify before doing it again. That is what makes `dr resume` safe.
    interrupted = prior is not None and prior.status in ("running", "failed")
    if step.verify_fn is not None and (step.check_first or interrupted):
        verdict = _evaluate(step.verify_fn, args, step.timeout)
        if verdict.ok:
            reason = say.TOOK_EFFECT_BEFORE() if interrupted else say.ALREADY_IN_EFFECT()
            journal.step_finished(
                state.run_id,
                planned.path,
                name,
                kind=step.kind,
                status="succeeded",
                result={"already_in_effect": True, "reason": reason.en},
            )
            return HostOutcome(name, "succeeded", reason(state.options.lang))

    if step.kind is StepKind.WAIT:
        return _wait_until(state, planned, args, name, prior)

    first_attempt = (prior.attempts if prior else 0) + 1
    error = Text(zh="", en="")
    for n in range(step.retries + 1):
        attempt = first_attempt + n
        journal.step_started(state.run_id, planned.path, name, kind=step.kind, attempt=attempt)
        try:
            value = call_with_timeout(step.fn, args, step.timeout)
            result = _judge(step.kind, value)
            if step.kind is StepKind.ACTION and step.verify_fn is not None:
                verdict = _evaluate(step.verify_fn, args, step.timeout)
                if not verdict.ok:
                    raise _NotInEffect(as_text(verdict.detail))
            journal.step_finished(
                state.run_id, planned.path, name, kind=step.kind, status="succeeded", result=result
            )
            return HostOutcome(name, "succeeded", _summary(result, state.options.lang))
        except (JournalError, HostKeyRejected):
            # JournalError: the action may have taken effect and the journal cannot say
            # so: trying it again could do it twice. Stop the run; `dr resume` asks the
            # verify first. HostKeyRejected: see run_on_host.
            raise
        except Exception as err:  # a runbook's own bug must fail the step, not the engine
            error = describe_text(err)
            journal.append(
                "step.attempt_failed",
                run_id=state.run_id,
                step_id=planned.path,
                host=name or None,
                data={"attempt": attempt, "error": error.en, "trace": _trace(err)},
            )
            if n < step.retries:
                state.pause_requested.wait(step.backoff * (2**n))
    return _failed(state, planned, name, error)


def _failed(
    state: RunState, planned: PlannedStep, name: str, error: Text, result: Any = None
) -> HostOutcome:
    """The journal keeps the error in English under `error` and in Chinese as the
    result's `error_zh` (where it differs); the operator reads the run's language."""
    said = dict(result or {})
    if error.zh != error.en:
        said["error_zh"] = error.zh
    state.journal.step_finished(
        state.run_id,
        planned.path,
        name,
        kind=planned.step.kind,
        status="failed",
        error=error.en,
        result=said or None,
    )
    return HostOutcome(name, "failed", error(state.options.lang))


def run_rollback(state: RunState, planned: PlannedStep, host: Host | None) -> HostOutcome:
    step = planned.step
    assert step.rollback_fn is not None
    ctx = StepContext(state, planned.path, planned.params)
    args: tuple[Any, ...] = (ctx, host) if host is not None else (ctx,)
    name = host.name if host is not None else ""
    try:
        call_with_timeout(step.rollback_fn, args, step.timeout)
    except Exception as err:
        state.journal.append(
            "rollback.failed",
            run_id=state.run_id,
            step_id=planned.path,
            host=name or None,
            data={"error": describe(err)},
        )
        return HostOutcome(name, "failed", describe_text(err)(state.options.lang))
    state.journal.step_finished(
        state.run_id, planned.path, name, kind=step.kind, status="rolled_back"
    )
    return HostOutcome(name, "rolled_back")


def call_with_timeout(fn: Any, args: tuple[Any, ...], timeout: float | None) -> Any:
    """Call `fn`, giving up after `timeout` seconds.

    Python cannot kill a thread: a timed-out call is abandoned on a daemon thread (our
    transports carry their own timeouts, so it ends soon after) and the step fails.
    """
    if timeout is None:
        return fn(*args)
    box: dict[str, Any] = {}
    done = threading.Event()

    def target() -> None:
        try:
            box["value"] = fn(*args)
        except BaseException as err:
            box["error"] = err
        finally:
            done.set()

    threading.Thread(target=target, daemon=True, name="dr-step").start()
    if not done.wait(timeout):
        raise StepTimedOut(timeout)
    if "error" in box:
        raise box["error"]
    return box.get("value")


def describe(err: BaseException) -> str:
    return describe_text(err).en


def describe_text(err: BaseException) -> Text:
    """Why a step failed, for the operator, in both languages where the cause said both."""
    if isinstance(err, StepFailed):
        return err.text
    if isinstance(err, DrError):
        return Text(zh=err.message, en=err.message)
    if isinstance(err, StepTimedOut | _NotInEffect | _CheckFailed):
        return err.text
    plain = f"{err.__class__.__name__}: {err}"
    return Text(zh=plain, en=plain)


class _Explained(Exception):
    """A failure the engine words itself, in both languages; str() is the English."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


class _NotInEffect(_Explained):
    def __init__(self, detail: Text) -> None:
        super().__init__(say.joined(say.NOT_IN_EFFECT(), detail))


def _wait_until(
    state: RunState,
    planned: PlannedStep,
    args: tuple[Any, ...],
    name: str,
    prior: StepRecord | None,
) -> HostOutcome:
    step = planned.step
    attempt = (prior.attempts if prior else 0) + 1
    state.journal.step_started(state.run_id, planned.path, name, kind=step.kind, attempt=attempt)
    timeout = step.timeout if step.timeout is not None else 300.0
    hold = step.hold
    if step.hold_template is not None:
        hold = seconds(step.hold_template.format(**planned.params)) or 0.0
    started = time.monotonic()
    held_since: float | None = None
    polls = 0
    detail: Text | None = None
    while True:
        if state.pause_requested.is_set():
            # Waiting changes nothing, so it is always safe to stop here and wait again later.
            return HostOutcome(name, "interrupted", say.PAUSED_WHILE_WAITING()(state.options.lang))
        remaining = max(1.0, timeout - (time.monotonic() - started))
        verdict = _evaluate(step.fn, args, remaining)
        polls += 1
        detail = as_text(verdict.detail)
        now = time.monotonic()
        held_since = (held_since or now) if verdict.ok else None
        if held_since is not None and now - held_since >= hold:
            waited = round(now - started, 3)
            result = {"polls": polls, "waited_s": waited, **_detail_record(verdict.detail)}
            state.journal.step_finished(
                state.run_id, planned.path, name, kind=step.kind, status="succeeded", result=result
            )
            return HostOutcome(name, "succeeded", _summary(result, state.options.lang))
        if now - started >= timeout:
            not_met = say.WAIT_NOT_MET(timeout=f"{timeout:g}", polls=polls)
            if held_since:
                held = say.HELD_FOR(held=f"{now - held_since:.0f}", hold=f"{hold:g}")
                not_met = Text(zh=not_met.zh + held.zh, en=not_met.en + held.en)
            error = say.joined(not_met, detail)
            return _failed(state, planned, name, error, {"polls": polls})
        state.pause_requested.wait(step.interval)


def _evaluate(fn: Any, args: tuple[Any, ...], timeout: float | None) -> Verdict:
    try:
        return _as_verdict(call_with_timeout(fn, args, timeout))
    except HostKeyRejected:
        raise  # not a "no" from the check: the run stops (run_on_host)
    except Exception as err:
        return Verdict(False, describe_text(err))


def _as_verdict(value: Any) -> Verdict:
    if isinstance(value, Verdict):
        return value
    if hasattr(value, "ok") and hasattr(value, "exited"):
        return Verdict(bool(value.ok), f"exit {value.exited}")
    return Verdict(bool(value))


def _judge(kind: StepKind, value: Any) -> Any:
    if kind is StepKind.CHECK:
        verdict = _as_verdict(value)
        if not verdict.ok:
            raise _CheckFailed(as_text(verdict.detail))
        return {"ok": True, **_detail_record(verdict.detail)}
    return jsonable(value)


class _CheckFailed(_Explained):
    def __init__(self, detail: Text) -> None:
        super().__init__(say.joined(say.CHECK_FAILED(), detail))


def jsonable(value: Any) -> Any:
    """What a step returned, as the journal can keep it."""
    if value is None:
        return None
    if hasattr(value, "to_record"):
        return value.to_record()
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return repr(value)


def _detail_record(detail: str | Text) -> dict[str, str]:
    """A verdict's sentence as the journal keeps it: English under `detail` (what every
    reader of the journal has read so far), the Chinese beside it when the runbook wrote one."""
    if isinstance(detail, Text):
        return {"detail": detail.en, "detail_zh": detail.zh}
    return {"detail": detail}


def _summary(result: Any, lang: Lang) -> str:
    if not isinstance(result, dict):
        return ""
    said = result.get("detail_zh") if lang == "zh" else None
    return str(said or result.get("detail") or "")


def _trace(err: BaseException) -> str | None:
    if isinstance(err, DrError | StepTimedOut | _NotInEffect | _CheckFailed):
        return None
    return "".join(traceback.format_exception(err)[-6:])
