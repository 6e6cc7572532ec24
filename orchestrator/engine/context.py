"""`ctx`: what a runbook step function is handed. The runbook's whole view of the world."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.engine.endpoints import ssh_endpoint, switch_endpoint
from orchestrator.engine.incident_link import add_incident_reporting_days, raise_incident_level
from orchestrator.engine.state import RunState
from orchestrator.errors import StepFailed, TransportError
from orchestrator.masking import known_secrets
from orchestrator.notify import DeliveryResult, Message, deliver
from orchestrator.runbook import Marker
from orchestrator.text import Text, as_text
from orchestrator.transports.genset import GensetClient
from orchestrator.transports.local import command_line, run_local
from orchestrator.transports.netdev import (
    NetDevice,
    PortStatus,
    SwitchChange,
    SwitchOperationFailed,
)
from orchestrator.transports.ups import NutClient

if TYPE_CHECKING:
    from orchestrator.inventory import Host, Inventory
    from orchestrator.inventory.field_types import AlertCategory, AlertLevel
    from orchestrator.journal.records import EventRecord
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
    def run_started_at(self) -> datetime:
        return _aware(datetime.fromisoformat(self._state.record.started_at))

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
        secrets = [stdin.decode(errors="replace") if isinstance(stdin, bytes) else stdin or ""]
        self._record_command("ssh", target.name, command, _result_record(result), secrets)
        if not warn and not result.ok:
            raise StepFailed(_command_failed(f"`{command}`", target.name, result))
        return result

    def local(
        self,
        command: str | Sequence[str],
        *,
        about: Host | str | None = None,
        timeout: float | None = 60,
        stdin: str | None = None,
        env: Mapping[str, str] | None = None,
        warn: bool = False,
    ) -> CommandResult:
        """Run a command on this machine (fabric's `Connection.local`); journaled like
        `ssh`, with `about` as the host it acts on (the host an IPMI tool powers off).

        A string is split as a shell would, but no shell runs it. A non-zero exit fails
        the step unless `warn=True`; a command that cannot start or outlives `timeout`
        raises `TransportError` (journaled too). `stdin` and `env` carry secrets: only
        the variables' names are journaled.
        """
        host = about.name if about is not None and not isinstance(about, str) else about
        shown = command_line(command)
        facts: dict[str, Any] = {"env": sorted(env)} if env else {}
        secrets = [stdin or "", *(env or {}).values()]
        try:
            result = run_local(command, timeout=timeout, stdin=stdin, env=env)
        except TransportError as err:
            self._record_command("local", host, shown, {**facts, "error": err.message}, secrets)
            raise
        self._record_command("local", host, shown, {**facts, **_result_record(result)}, secrets)
        if not warn and not result.ok:
            raise StepFailed(_command_failed(f"`{shown}`", None, result))
        return result

    def _record_command(
        self,
        transport: str,
        host: str | None,
        command: str,
        outcome: dict[str, Any],
        secrets: Sequence[str] = (),
    ) -> None:
        # Masked with every secret the process has read and this command's own (its
        # stdin, its environment): a command may echo what it was given.
        mask = known_secrets(secrets)
        self._state.journal.append(
            "command",
            run_id=self.run_id,
            step_id=self.path,
            host=host,
            data=mask.data({"transport": transport, "command": command, **outcome}),
        )

    def switch(self, name: str) -> JournaledSwitch:
        """The switch `name` of the inventory, through netmiko; every change is journaled."""
        endpoint = switch_endpoint(self.inventory.switch(name), self.inventory, mode=self.mode)
        return JournaledSwitch(self._state.switches.device(endpoint), self)

    def ups(self, name: str) -> NutClient:
        """The UPS `name` of the inventory's power section, through upsd; SET and INSTCMD
        are journaled as `power.action` (reads are not: a wait polls them every second)."""
        from orchestrator.inventory import resolve_secret

        ups = self.inventory.ups(name)
        # Resolved here, not at load: reading needs no password, only a change does.
        password = resolve_secret(ups.password) if ups.password is not None else None
        return JournaledUps(
            ups.nut_host, ups.nut_port, ups.ups_name, ups.username, password, ctx=self
        )

    def generator(self, name: str) -> GensetClient:
        """The generator `name` of the inventory, through its Modbus controller; every
        command (start, stop, breakers, settings) is journaled as `power.action`.
        Use it as `with ctx.generator(name) as gen:` so the connection is closed."""
        generator = self.inventory.generator(name)
        return JournaledGenset(
            generator.modbus_host, generator.modbus_port, generator.unit_id, ctx=self
        )

    def record(self, kind: str, data: dict[str, Any], host: str | None = None) -> None:
        """Journal what a transport did (for the record of this step)."""
        self._state.journal.append(
            kind, run_id=self.run_id, step_id=self.path, host=host, data=data
        )

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

    def journal_events(self, kinds: tuple[str, ...], since: datetime) -> list[EventRecord]:
        """Events of the whole journal (other runs', the scheduler's) of `kinds` since
        `since`, newest first; read only. The run's journal is the scheduler's too where
        both are given the same `--db` / `DR_DB` (the lag gate reads the lag watch's
        samples this way)."""
        return self._state.journal.events(kinds=kinds, since=since, newest_first=True)

    def note(self, message: str | Text) -> None:
        """A line for the operator and the record."""
        text = as_text(message)
        self._state.journal.append(
            "note", run_id=self.run_id, step_id=self.path, data={"text": text.to_dict()}
        )
        self._state.observer.message(text(self._state.options.lang))

    def sleep(self, seconds: float) -> None:
        """Sleep that a pause request (Ctrl-C) does not have to wait out."""
        self._state.pause_requested.wait(seconds)

    # ---- alert levels ----------------------------------------------------------------

    def set_alert_level(
        self, level: AlertLevel, category: AlertCategory, reason: str | Text
    ) -> None:
        """Declare the alert level the situation has reached, by the escalation rules of
        DOMAIN.md (e.g. a core host failed: orange, equipment). Journaled as an
        `alert_level` event; incidents read these to raise their own level."""
        text = as_text(reason)
        self._state.journal.append(
            "alert_level",
            run_id=self.run_id,
            step_id=self.path,
            data={"level": level, "category": category, "reason": text.to_dict()},
        )
        self._state.observer.message(f"[{level}/{category}] {text(self._state.options.lang)}")
        if self._state.record.incident_id:
            raise_incident_level(self._state, level, text.en)

    def owe_reporting_days(self, days: list[date], branches: list[str], source: str) -> None:
        """Business of these local dates must be reported to the credit centre again (lost
        writes re-entered): the attached incident, if any, tracks their deadlines."""
        add_incident_reporting_days(self._state, days, branches, source)

    # ---- notifications ----------------------------------------------------------------

    def notify(self, message: Message) -> list[DeliveryResult]:
        """Send `message` now to its recipients through the inventory's channels (email to
        each contact with an address, each webhook that takes its level). Every attempt is
        journaled (`notification.sent` / `notification.failed`) under this run and step.
        Never raises: a failed delivery is a record, and the run goes on."""
        return deliver(
            message,
            self.inventory,
            self._state.journal,
            sleep=self.sleep,
            run_id=self.run_id,
            step_id=self.path,
        )

    # ---- RTO/RPO markers ------------------------------------------------------------

    def mark_service_lost(self, at: datetime | None = None, reason: str = "") -> None:
        """Service was lost at `at` (default now): the RTO clock starts there."""
        record_marker(self._state, Marker.SERVICE_LOST, at, self.path, {"reason": reason})

    def mark_service_restored(self, at: datetime | None = None) -> None:
        """Service was verified restored at `at` (default now): the RTO clock stops."""
        record_marker(self._state, Marker.SERVICE_RESTORED, at, self.path, {})

    def mark_last_data_point(self, at: datetime, source: str | Text) -> None:
        """The newest data that survived (snapshot time, last replayed transaction): RPO.
        `source` says where that moment came from; the journal keeps its English as
        `source` and its Chinese beside it."""
        said = as_text(source)
        with self._state.lock:
            self._state.markers["last_data_point"] = _aware(at)
            self._state.data_point_source = said
        data = {"marker": "last_data_point", "at": _aware(at).isoformat(), "source": said.en}
        self._state.journal.append(
            "marker", run_id=self.run_id, step_id=self.path, data={**data, "source_zh": said.zh}
        )


class JournaledSwitch:
    """A switch as runbooks use it: reads pass through, every change lands in the journal."""

    def __init__(self, device: NetDevice, ctx: StepContext) -> None:
        self._device = device
        self._ctx = ctx

    def port_status(self, port: str) -> PortStatus:
        return self._device.port_status(port)

    def ports(self) -> list[PortStatus]:
        return self._device.ports()

    def detach(self, port: str) -> SwitchChange:
        return self._journaled(lambda: self._device.detach(port))

    def attach(self, port: str, domain: str | int) -> SwitchChange:
        return self._journaled(lambda: self._device.attach(port, domain))

    def enable(self, port: str) -> SwitchChange:
        return self._journaled(lambda: self._device.enable(port))

    def disable(self, port: str) -> SwitchChange:
        return self._journaled(lambda: self._device.disable(port))

    def save(self) -> SwitchChange:
        return self._journaled(self._device.save)

    def _journaled(self, operation: Callable[[], SwitchChange]) -> SwitchChange:
        try:
            change = operation()
        except SwitchOperationFailed as err:
            # What reached the switch before it failed is part of the record too.
            self._ctx.record(
                "switch.change_failed",
                {
                    "switch": self._device.name,
                    "error": err.message,
                    "exchanges": [e.to_record() for e in err.exchanges],
                },
                host=self._device.name,
            )
            raise
        self._ctx.record("switch.change", change.to_record(), host=change.switch)
        return change


class JournaledUps(NutClient):
    """A NutClient whose changes land in the journal, refused ones included."""

    def __init__(self, *args: Any, ctx: StepContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ctx = ctx

    def set(self, name: str, value: str) -> None:
        _journaled_power(
            self._ctx,
            "ups",
            self.ups,
            f"set {name}={value}",
            lambda: super(JournaledUps, self).set(name, value),
        )

    def instcmd(self, name: str, param: str | None = None) -> None:
        _journaled_power(
            self._ctx,
            "ups",
            self.ups,
            f"instcmd {name}" + (f" {param}" if param is not None else ""),
            lambda: super(JournaledUps, self).instcmd(name, param),
        )


class JournaledGenset(GensetClient):
    """A GensetClient whose commands land in the journal, in the order they were sent:
    the record shows that the mains breaker was open before the start."""

    def __init__(self, *args: Any, ctx: StepContext, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ctx = ctx

    def _journal(self, action: str, command: Callable[[], None]) -> None:
        _journaled_power(
            self._ctx, "generator", f"{self.host}:{self.port}/{self.unit_id}", action, command
        )

    def start(self) -> None:
        self._journal("start", super().start)

    def stop(self) -> None:
        self._journal("stop", super().stop)

    def open_mains_breaker(self) -> None:
        self._journal("open_mains_breaker", super().open_mains_breaker)

    def close_mains_breaker(self) -> None:
        self._journal("close_mains_breaker", super().close_mains_breaker)

    def open_generator_breaker(self) -> None:
        self._journal("open_generator_breaker", super().open_generator_breaker)

    def close_generator_breaker(self) -> None:
        self._journal("close_generator_breaker", super().close_generator_breaker)

    def set_stable_window(self, seconds: int) -> None:
        self._journal(
            f"set_stable_window {seconds}",
            lambda: super(JournaledGenset, self).set_stable_window(seconds),
        )


def _journaled_power(
    ctx: StepContext, device: str, where: str, action: str, command: Callable[[], None]
) -> None:
    """Journal a power control action with its outcome; a refusal is recorded, then raised."""
    try:
        command()
    except Exception as err:
        ctx.record(
            "power.action",
            {"device": device, "at": where, "action": action, "ok": False, "error": str(err)},
        )
        raise
    ctx.record("power.action", {"device": device, "at": where, "action": action, "ok": True})


def _result_record(result: CommandResult) -> dict[str, Any]:
    return {
        "exited": result.exited,
        "stdout": result.stdout[-_OUTPUT_LIMIT:],
        "stderr": result.stderr[-_OUTPUT_LIMIT:],
        "duration_s": round(result.duration_s, 3),
    }


def _command_failed(command: str, host: str | None, result: CommandResult) -> Text:
    """A failed step's message: `CMD` on HOST exited N: <the last line it printed>; the
    command's own words are quoted as they are in both languages."""
    detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or [""]
    where_zh = f"在 {host} 上" if host else "在本机上"
    where_en = f"on {host}" if host else "on this machine"
    return Text(
        zh=f"{command} {where_zh}执行失败，退出码 {result.exited}：{detail[0]}",
        en=f"{command} {where_en} exited {result.exited}: {detail[0]}",
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
