"""The watch loop: one thread per target, probing every `interval`, journaling changes.

Journal events (run_id none; `at` in the data is the probe's own moment, to the
microsecond, which the event's row time is not):
- `service_watch.started` / `service_watch.stopped`: what is watched, and what is not (why);
- `service_watch.problem`: a target that cannot be probed (the probe cannot run on the
  branch host, its host key is refused): neither up nor down, said once per problem;
- `service.down`: service, vantage, at (when the first failed probe was sent), error,
  last_ok_at (the last passing probe: the outage began between the two);
- `service.up`: service, vantage, at (when the first passing probe answered), outage_s,
  and `first: true` when it is the watch's first look (nothing was known before).

A watch that starts records the first state it sees, so an outage a crashed watch left
open is closed by the next start; one that stops says so, and its open outages end there
as far as the RTO clock is concerned (nobody saw what happened next).
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime
from typing import Any

from orchestrator.errors import DrError
from orchestrator.inventory import Inventory
from orchestrator.inventory.service_watch_settings import ServiceWatchSettings
from orchestrator.journal import Journal
from orchestrator.service_watch.events import DOWN, PROBLEM, STARTED, STOPPED, UP
from orchestrator.service_watch.probes import TargetProbe, WatchProbeRefused
from orchestrator.service_watch.targets import WatchTarget, watch_targets
from orchestrator.transports.ssh import SshTransport

log = logging.getLogger(__name__)


class ServiceWatch:
    def __init__(
        self, inventory: Inventory, journal: Journal, settings: ServiceWatchSettings
    ) -> None:
        self.inventory = inventory
        self.journal = journal
        self.settings = settings
        self.targets, self.unwatched = watch_targets(inventory, settings)
        self._journal_lock = threading.Lock()  # one chained append at a time

    def run(self, stop: threading.Event, lifetime: float | None = None) -> None:
        """Probe until `stop` is set (or for `lifetime` seconds)."""
        deadline = None if lifetime is None else time.monotonic() + lifetime
        self._append(
            STARTED,
            {
                "targets": [t.label for t in self.targets],
                "unwatched": {u.vantage: u.why for u in self.unwatched},
                "interval_s": self.settings.interval,
                "timeout_s": self.settings.timeout,
            },
        )
        with SshTransport() as ssh:
            threads = [
                threading.Thread(
                    target=self._watch,
                    args=(target, ssh, stop, deadline),
                    name=f"watch {target.label}",
                    daemon=True,
                )
                for target in self.targets
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        self._append(STOPPED, {"targets": [t.label for t in self.targets]})

    def _watch(
        self,
        target: WatchTarget,
        ssh: SshTransport,
        stop: threading.Event,
        deadline: float | None,
    ) -> None:
        seen = _Seen(target)
        try:
            probe = TargetProbe(target, self.inventory, ssh)
        except DrError as err:  # a password reference that does not resolve, say
            log.error("service watch, %s: not watched: %s", target.label, err.message)
            return
        try:
            self._probe_until(probe, seen, stop, deadline)
        finally:
            probe.close()

    def _probe_until(
        self, probe: TargetProbe, seen: _Seen, stop: threading.Event, deadline: float | None
    ) -> None:
        target = probe.target
        problem: str | None = None
        due = time.monotonic()
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            sent = datetime.now(UTC)
            try:
                error = probe(self.settings.timeout)
            except WatchProbeRefused as err:
                # Someone else may answer in the host's place, or the probe cannot run
                # there: neither up nor down. Said once, not at every probe.
                if str(err) != problem:
                    problem = str(err)
                    log.error("service watch, %s: %s", target.label, problem)
                    where = {"service": target.service, "vantage": target.vantage}
                    self._append(PROBLEM, {**where, "problem": problem})
            except Exception:
                # One bad probe must not end the watch of every other target.
                log.exception("service watch, %s: the probe failed", target.label)
            else:
                problem = None
                change = seen.observe(sent, datetime.now(UTC), error)
                if change is not None:
                    self._append(*change)
            due += self.settings.interval
            # A probe slower than the interval is followed at once, never by a burst.
            due = max(due, time.monotonic())
            stop.wait(max(0.0, due - time.monotonic()))

    def _append(self, kind: str, data: dict[str, Any]) -> None:
        if kind in (DOWN, UP):
            log.info("%s %s from %s at %s", kind, data["service"], data["vantage"], data["at"])
        try:
            with self._journal_lock:
                self.journal.append(kind, actor="service-watch", data=data)
        except Exception:
            log.exception("service watch: could not journal %s %s", kind, data)


class _Seen:
    """One target's state: up, down, or not yet known (None)."""

    def __init__(self, target: WatchTarget) -> None:
        self.target = target
        self.state: str | None = None
        self.since: datetime | None = None
        self.last_ok_at: datetime | None = None

    def observe(
        self, sent: datetime, answered: datetime, error: str | None
    ) -> tuple[str, dict[str, Any]] | None:
        """The event to journal, if this probe changed what is known."""
        where = {"service": self.target.service, "vantage": self.target.vantage}
        if error is None:
            self.last_ok_at = answered
            if self.state == "up":
                return None
            data: dict[str, Any] = {**where, "at": answered.isoformat()}
            if self.state == "down" and self.since is not None:
                data["outage_s"] = round((answered - self.since).total_seconds(), 3)
            if self.state is None:
                data["first"] = True
            self.state, self.since = "up", answered
            return UP, data
        if self.state == "down":
            return None
        last_ok = self.last_ok_at.isoformat() if self.last_ok_at else None
        self.state, self.since = "down", sent
        return DOWN, {**where, "at": sent.isoformat(), "error": error, "last_ok_at": last_ok}
