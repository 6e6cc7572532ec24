"""The lag watch: every `scheduler.lag_check_interval`, each host pair's replication lag,
read over SSH from both databases (the status fact; read-only), recorded and judged.

- Recorded: a `lag.sample` journal event per pair (with `positions`: the primary's
  name, current write position and clock, the standby's receive and replay positions,
  which the cutover's lag gate compares a standby with once the primary is gone:
  postgresql/last_known_primary.py), and the Prometheus textfile
  `dr-lag.prom` beside `dr.prom` (bytes, seconds, the limits, whether the primary
  waits for a synchronous standby).
- Judged against the pair's own limits (`max_lag_on_failover` bytes, `rpo` seconds:
  runbooks/_lag_gate.watch_limit), and for a `replication: synchronous` pair, whether
  the primary still waits for a streaming standby in sync state. A standby past the
  limits now is one a cutover would have to ask leadership to promote.
- Alerted once per breach, like the RPO watchdog: `lag.alert` when a pair goes past
  its limits (or cannot be read), `lag.recovered` once it is within again; each change
  is also settled on the pair's incident (scheduler/job_alerts, subject `lag:PAIR`, as
  an RPO breach: data already at risk).

Only pairs with a limit or synchronous replication are watched: without a target,
there is nothing to alert on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from orchestrator.engine.endpoints import standing_endpoint
from orchestrator.errors import DrError, HostKeyRejected, TransportError
from orchestrator.inventory import Host, HostPair, Inventory
from orchestrator.journal import Journal
from orchestrator.postgresql.errors import UnreadableOutput
from orchestrator.postgresql.lag import Lag, judge, measure
from orchestrator.postgresql.last_known_primary import SAMPLE_KIND, sample_positions
from orchestrator.postgresql.replication import Replica, parse_replicas
from orchestrator.postgresql.status import DatabaseStatus, parse_status
from orchestrator.postgresql.synchronous import synchronous_replicas, waits_for_a_standby
from orchestrator.scheduler import monitoring
from orchestrator.scheduler.jobs import JobEnvironment, given_env
from orchestrator.scheduler.monitoring import _label, _number
from orchestrator.transports.ssh import SshTransport
from runbooks._dual_host import control
from runbooks._lag_gate import watch_limit

log = logging.getLogger(__name__)

LAG_WATCH = "orchestrator.scheduler.lag_watch:lag_watch"
TEXTFILE_NAME = "dr-lag.prom"
SAMPLE, ALERT, RECOVERED = SAMPLE_KIND, "lag.alert", "lag.recovered"
READ_TIMEOUT_S = 30.0


@dataclass
class PairReading:
    """What the watch found for one pair."""

    pair: str
    primary: str | None = None
    standby: str | None = None
    lag: Lag | None = None
    synchronous: bool | None = None  # the primary waits for a sync standby (sync pairs)
    problems: list[str] = field(default_factory=list)
    positions: dict[str, Any] | None = None  # last_known_primary.sample_positions

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "pair": self.pair,
            "primary": self.primary,
            "standby": self.standby,
            "lag": self.lag.to_dict() if self.lag is not None else None,
            "synchronous": self.synchronous,
            "problems": self.problems,
            "message": self.message,
            "positions": self.positions,
        }

    @property
    def message(self) -> str:
        if self.ok:
            shown = self.lag.describe().en if self.lag is not None else "no reading"
            return f"pair {self.pair}: {shown}"
        return f"pair {self.pair}: " + "; ".join(self.problems)


def watched(inventory: Inventory) -> list[HostPair]:
    return [p for p in inventory.host_pairs if watch_limit(p).any or watch_limit(p).synchronous]


def lag_watch(*, env: JobEnvironment | None = None) -> list[dict[str, Any]]:
    """The scheduler job: read, record, alert; returns the new alerts."""
    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        with SshTransport() as ssh:
            readings = [read_pair(inventory, pair, ssh) for pair in watched(inventory)]
        alerts = record(inventory, journal, readings)
        try:
            monitoring.write_textfile(env.textfile_dir, render(inventory, readings), TEXTFILE_NAME)
        except OSError:
            log.exception("could not write %s in %s", TEXTFILE_NAME, env.textfile_dir)
        return alerts
    finally:
        journal.close()


# ---- reading ---------------------------------------------------------------------------


def read_pair(inventory: Inventory, pair: HostPair, ssh: SshTransport) -> PairReading:
    reading = PairReading(pair.name)
    try:
        hosts = [inventory.host(pair.primary), inventory.host(pair.standby)]
        statuses = [_status(inventory, pair, host, ssh) for host in hosts]
    except DrError as err:
        reading.problems.append(f"cannot be read: {err.message}")
        return reading
    primary = next((h for h, s in zip(hosts, statuses, strict=True) if s and s.is_primary), None)
    standby = next((h for h, s in zip(hosts, statuses, strict=True) if s and s.in_recovery), None)
    by_name = {h.name: s for h, s in zip(hosts, statuses, strict=True)}
    reading.primary = primary.name if primary else None
    reading.standby = standby.name if standby else None
    primary_status = by_name[primary.name] if primary else None
    standby_status = by_name[standby.name] if standby else None
    reading.positions = sample_positions(reading.primary, primary_status, standby_status)
    if standby is None:
        reading.problems.append("no database of the pair answers as a standby")
        return reading
    assert standby_status is not None
    reading.lag = measure(standby_status, primary_status)
    verdict = judge(reading.lag, watch_limit(pair))
    reading.problems += [r.en for r in verdict.reasons]
    if reading.lag.replay_paused:
        reading.problems.append(f"replay is paused on {standby.name}")
    if pair.replication == "synchronous":
        _check_synchronous(inventory, pair, primary, primary_status, ssh, reading)
    return reading


def _check_synchronous(
    inventory: Inventory,
    pair: HostPair,
    primary: Host | None,
    status: DatabaseStatus | None,
    ssh: SshTransport,
    reading: PairReading,
) -> None:
    if primary is None or status is None:
        reading.problems.append("the primary does not answer: synchronous state unknown")
        return
    replicas = _replicas(inventory, pair, primary, ssh)
    waits = waits_for_a_standby(status.synchronous_standby_names)
    reading.synchronous = waits and bool(synchronous_replicas(replicas or []))
    if not waits:
        reading.problems.append(
            f"{primary.name} waits for no standby (synchronous_standby_names is empty): "
            "the pair is declared synchronous; run `dr run replication-mode`"
        )
    elif not reading.synchronous:
        reading.problems.append(f"{primary.name} has no streaming standby in sync state")


def _run(inventory: Inventory, host: Host, command: str, ssh: SshTransport) -> str | None:
    try:
        result = ssh.run(standing_endpoint(host, inventory), command, timeout=READ_TIMEOUT_S)
    except HostKeyRejected:
        raise  # someone else may answer in the host's place: a problem, not a down host
    except TransportError:
        return None
    return result.stdout if result.ok else None


def _status(
    inventory: Inventory, pair: HostPair, host: Host, ssh: SshTransport
) -> DatabaseStatus | None:
    output = _run(inventory, host, control(pair, "db_status", host), ssh)
    if output is None:
        return None
    try:
        return parse_status(output)
    except UnreadableOutput as err:
        raise DrError(f"{host.name}: {err.message} (check host_pairs control.db_status)") from None


def _replicas(
    inventory: Inventory, pair: HostPair, host: Host, ssh: SshTransport
) -> list[Replica] | None:
    output = _run(inventory, host, control(pair, "db_replicas", host), ssh)
    try:
        return None if output is None else parse_replicas(output)
    except UnreadableOutput:
        return None


# ---- recording and alerting ---------------------------------------------------------------


def record(
    inventory: Inventory, journal: Journal, readings: list[PairReading]
) -> list[dict[str, Any]]:
    """Journal each sample; `lag.alert` / `lag.recovered` on a change; the new alerts."""
    open_alerts = open_alerts_in(journal)
    alerts = []
    for reading in readings:
        data = reading.to_dict()
        journal.append(SAMPLE, data=data)
        if not reading.ok and reading.pair not in open_alerts:
            log.warning("replication lag alert: %s", reading.message)
            journal.append(ALERT, data=data)
            alerts.append(data)
            _settle(journal, inventory, reading)
        elif reading.ok and reading.pair in open_alerts:
            log.info("replication lag within its limits again: %s", reading.message)
            journal.append(RECOVERED, data=data)
            _settle(journal, inventory, reading)
    return alerts


def open_alerts_in(journal: Journal) -> set[str]:
    """The pairs alerted on since they last recovered."""
    open_: set[str] = set()
    for event in journal.events(kinds=(ALERT, RECOVERED)):
        name = str(event.data.get("pair", ""))
        if event.kind == ALERT:
            open_.add(name)
        else:
            open_.discard(name)
    return open_


def _settle(journal: Journal, inventory: Inventory, reading: PairReading) -> None:
    """The pair's incident hears of the change (the scheduler's job alerts); a lagging
    standby is an RPO at risk. `settle` never raises."""
    from orchestrator.scheduler.job_alerts import JobOutcome, settle

    outcome = JobOutcome(f"lag:{reading.pair}", "rpo", reading.ok, reading.message)
    settle(journal, inventory, outcome)


# ---- the textfile --------------------------------------------------------------------------

METRICS: dict[str, str] = {
    "dr_replication_up": "1 if the pair's standby could be read.",
    "dr_replication_lag_bytes": "WAL the standby has not replayed (against the primary's "
    "position when it answers).",
    "dr_replication_lag_seconds": "Age of the standby's newest replayed commit while behind.",
    "dr_replication_replay_paused": "1 if the standby's replay is paused.",
    "dr_replication_max_lag_bytes": "The pair's max_lag_on_failover.",
    "dr_replication_rpo_target_seconds": "The pair's RPO target.",
    "dr_replication_synchronous": "1 if the primary waits for a synchronous standby.",
}


def render(inventory: Inventory, readings: list[PairReading]) -> str:
    pairs = {p.name: p for p in inventory.host_pairs}
    samples: dict[str, list[tuple[str, float]]] = {name: [] for name in METRICS}
    for reading in readings:
        label = f'pair="{_label(reading.pair)}"'
        lag, pair = reading.lag, pairs[reading.pair]
        samples["dr_replication_up"].append((label, 0.0 if lag is None else 1.0))
        if lag is not None:
            if lag.bytes is not None:
                samples["dr_replication_lag_bytes"].append((label, float(lag.bytes)))
            if lag.seconds is not None:
                samples["dr_replication_lag_seconds"].append((label, round(lag.seconds, 3)))
            samples["dr_replication_replay_paused"].append((label, float(lag.replay_paused)))
        if pair.max_lag_on_failover is not None:
            samples["dr_replication_max_lag_bytes"].append((label, pair.max_lag_on_failover))
        if pair.rpo is not None:
            samples["dr_replication_rpo_target_seconds"].append((label, pair.rpo))
        if reading.synchronous is not None:
            samples["dr_replication_synchronous"].append((label, float(reading.synchronous)))
    lines = []
    for name, help_text in METRICS.items():
        if samples[name]:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            lines += [f"{name}{{{labels}}} {_number(v)}" for labels, v in samples[name]]
    return "\n".join(lines) + "\n"
