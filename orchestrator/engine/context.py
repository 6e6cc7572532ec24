"""`ctx`: what a runbook step function is handed. The runbook's whole view of the world."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.engine.endpoints import ssh_endpoint
from orchestrator.engine.state import RunState
from orchestrator.errors import StepFailed
from orchestrator.runbook import Marker
from orchestrator.text import Text, as_text

if TYPE_CHECKING:
    from orchestrator.inventory import Host, Inventory
    from orchestrator.transports.ssh import CommandResult

# Enough of a command's output to diagnose it from the journal, without letting one
# chatty command bloat the record.
_OUTPUT_LIMIT = 8192


class StepContext:
    """Passed to every step function as `ctx`."""

    def __init__(self, state: RunState, path: str, params: dict[str, Any]) -> None:
        self._state = state
        self.path = path
        self.params = params

    # ---- what the run is -------------------------------------------------------------

    @property
    def inventory(self) -> Inventory:
        return self._state.inventory

    @property
    def run_id(self) -> str:
        return self._state.run_id

    @property
    def mode(self) -> str:
        return self._state.record.mode

    @property
    def is_drill(self) -> bool:
        return self._state.is_drill

    @property
    def lang(self) -> str:
        return self._state.options.lang

    def hosts(self, selector: str) -> list[Host]:
        return self.inventory.select_hosts(selector.format(**self.params))

    # ---- acting on hosts -------------------------------------------------------------

    def ssh(
        self,
        host: Host | str,
        command: str,
        *,
        timeout: float | None = 60,
        stdin: str | bytes | None = None,
        warn: bool = False,
    ) -> CommandResult:
        """Run a command over SSH; journaled with its exit code and output.

        Like fabric: a non-zero exit fails the step unless `warn=True`, in which case the
        result is returned for the step to judge (`result.ok`, `result.stdout`).
        """
        target = self.inventory.host(host) if isinstance(host, str) else host
        endpoint = ssh_endpoint(target, self.inventory, mode=self.mode)
        result = self._state.ssh.run(endpoint, command, timeout=timeout, stdin=stdin)
        self._state.journal.append(
            "command",
            run_id=self.run_id,
            step_id=self.path,
            host=target.name,
            data={
                "transport": "ssh",
                "command": command,
                "exited": result.exited,
                "stdout": result.stdout[-_OUTPUT_LIMIT:],
                "stderr": result.stderr[-_OUTPUT_LIMIT:],
                "duration_s": round(result.duration_s, 3),
            },
        )
        if not warn and not result.ok:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
            raise StepFailed(f"`{command}` on {target.name} exited {result.exited}: {detail[0]}")
        return result

    # ---- facts: what a step learned, kept for later steps and for `dr resume` ---------

    def remember(self, key: str, value: Any) -> None:
        """Keep a JSON-able value for later steps (journaled, so it survives a crash)."""
        with self._state.lock:
            self._state.facts[key] = value
        self._state.journal.append(
            "fact", run_id=self.run_id, step_id=self.path, data={"key": key, "value": value}
        )

    def fact(self, key: str, default: Any = None) -> Any:
        return self._state.facts.get(key, default)

    def note(self, message: str | Text) -> None:
        """A line for the operator and the record."""
        text = as_text(message)
        assert text is not None
        self._state.journal.append(
            "note", run_id=self.run_id, step_id=self.path, data={"text": text.to_dict()}
        )
        self._state.observer.message(text(self._state.options.lang))

    def sleep(self, seconds: float) -> None:
        """Sleep that a pause request (Ctrl-C) does not have to wait out."""
        self._state.pause_requested.wait(seconds)

    # ---- RTO/RPO markers ------------------------------------------------------------

    def mark_service_lost(self, at: datetime | None = None, reason: str = "") -> None:
        """Service was lost at `at` (default now): the RTO clock starts there."""
        record_marker(self._state, Marker.SERVICE_LOST, at, self.path, {"reason": reason})

    def mark_service_restored(self, at: datetime | None = None) -> None:
        """Service was verified restored at `at` (default now): the RTO clock stops."""
        record_marker(self._state, Marker.SERVICE_RESTORED, at, self.path, {})

    def mark_last_data_point(self, at: datetime, source: str) -> None:
        """The newest data that survived (snapshot time, last replayed transaction): RPO."""
        with self._state.lock:
            self._state.markers["last_data_point"] = _aware(at)
            self._state.data_point_source = source
        self._state.journal.append(
            "marker",
            run_id=self.run_id,
            step_id=self.path,
            data={"marker": "last_data_point", "at": _aware(at).isoformat(), "source": source},
        )


def record_marker(
    state: RunState, marker: Marker, at: datetime | None, path: str, extra: dict[str, Any]
) -> None:
    """The first mark wins: a resumed run must not move a clock that already started."""
    when = _aware(at) if at else datetime.now(UTC)
    with state.lock:
        if marker.value in state.markers:
            return
        state.markers[marker.value] = when
    state.journal.append(
        "marker",
        run_id=state.run_id,
        step_id=path,
        data={"marker": marker.value, "at": when.isoformat(), **extra},
    )


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=UTC)
