"""The store's writers for what an incident leaves owed (records.Aftermath): reporting
days, the affected branches, re-entry confirmations and the immediate report.

They are IncidentStore methods (this is its base class), kept here so that store.py
stays about the incident itself. Each is one journaled `incident.*` event through the
store's versioned change, and each but the immediate report also works on a closed
incident: a reporting day or a branch's re-entry is still owed after the incident ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from orchestrator.errors import UserInputError
from orchestrator.incidents.records import Incident, iso


class AftermathWriters:
    if TYPE_CHECKING:

        def _change(
            self,
            incident_id: str,
            kind: str,
            actor: str | None,
            change: Callable[[Incident], tuple[Incident, dict[str, Any]] | None],
            *,
            allow_closed: bool = False,
        ) -> Incident: ...

    def add_reporting_days(
        self,
        incident_id: str,
        days: Iterable[date],
        source: str,
        *,
        actor: str | None = None,
        branches: Iterable[str] = (),
        at: datetime | None = None,
    ) -> Incident:
        """Reporting days (local dates) whose business must be (re-)submitted by the end of
        the next working day: each gains a `credit-submission-DATE` deadline. `source`
        says who found them ("lost-transactions" for writes a recovery discarded, which
        also starts the branches' re-entry); `branches` names the branches concerned.
        Adding a day already there from the same source changes nothing."""
        now = _moment(at)
        wanted = sorted({d.isoformat() for d in days})
        named = tuple(dict.fromkeys(branches))
        if not source.strip():
            raise UserInputError("a reporting day needs its source (who found it)")

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            found = {k: dict(v) for k, v in inc.aftermath.reporting_days.items()}
            new = [d for d in wanted if source not in found.get(d, {})]
            more = tuple(b for b in named if b not in inc.aftermath.branches)
            if not new and not more:
                return None
            for day in new:
                found.setdefault(day, {})[source] = iso(now)
            aftermath = replace(
                inc.aftermath, reporting_days=found, branches=inc.aftermath.branches + more
            )
            data = {"days": new, "source": source, "branches": list(more), "at": iso(now)}
            return replace(inc, aftermath=aftermath), data

        return self._change(
            incident_id, "incident.reporting_days_added", actor, change, allow_closed=True
        )

    def add_branches(
        self, incident_id: str, branches: Iterable[str], *, actor: str, at: datetime | None = None
    ) -> Incident:
        """Name branches the incident affects (its manual-fallback notices and re-entry);
        an incident that names none affects every branch site of its inventory."""
        now = _moment(at)
        named = tuple(dict.fromkeys(branches))

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            more = tuple(b for b in named if b not in inc.aftermath.branches)
            if not more:
                return None
            aftermath = replace(inc.aftermath, branches=inc.aftermath.branches + more)
            return replace(inc, aftermath=aftermath), {"branches": list(more), "at": iso(now)}

        return self._change(
            incident_id, "incident.branches_added", actor, change, allow_closed=True
        )

    def confirm_reentry(
        self,
        incident_id: str,
        branch: str,
        *,
        important_only: bool,
        actor: str,
        at: datetime | None = None,
    ) -> Incident:
        """A branch confirms it re-entered its manual records: the important data only
        (due the day service came back), or everything (due the next day)."""
        now = _moment(at)
        parts = ("important",) if important_only else ("important", "all")

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            before = inc.aftermath.reentered.get(branch, {})
            new = [p for p in parts if p not in before]
            if not new:
                return None
            entry = {**before, **{p: iso(now) for p in new}}
            reentered = {**inc.aftermath.reentered, branch: entry}
            aftermath = replace(inc.aftermath, reentered=reentered)
            data = {"branch": branch, "parts": new, "at": iso(now)}
            return replace(inc, aftermath=aftermath), data

        return self._change(incident_id, "incident.reentered", actor, change, allow_closed=True)

    def start_immediate_report(
        self, incident_id: str, *, cause: str, at: datetime, actor: str | None = None
    ) -> bool:
        """Start the immediate-report deadline (a major loss, a failed run) at `at`; the
        first cause keeps it: one report is owed, however many reasons came. Returns
        whether it started now."""
        moment = _moment(at)
        started = False

        def change(inc: Incident) -> tuple[Incident, dict[str, Any]] | None:
            nonlocal started
            if inc.aftermath.immediate_from is not None:
                return None
            aftermath = replace(inc.aftermath, immediate_from=iso(moment), immediate_cause=cause)
            started = True
            return replace(inc, aftermath=aftermath), {"cause": cause, "at": iso(moment)}

        self._change(incident_id, "incident.immediate_report_due", actor, change)
        return started


def _moment(at: datetime | None) -> datetime:
    moment = at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise UserInputError("a time without a zone is ambiguous; give it with +08:00 or Z")
    return moment
