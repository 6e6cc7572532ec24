"""Every recovery occasion in a period, read from the journal: drills, real runs, restore
tests, each with its achieved RTO/RPO against target and, for a lab drill, what the lab
itself observed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from orchestrator.errors import UserInputError
from orchestrator.journal import Journal
from orchestrator.journal.chained_rows import verified_measurements
from orchestrator.journal.records import MeasurementRecord, RunRecord
from orchestrator.shown_times import named_zone_at
from orchestrator.verdicts import met_of

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

# The journal holds fewer runs than this in any installation we serve; the limit only
# keeps list_runs' signature.
ALL_RUNS = 10**9


def parse_day(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserInputError(
            f"{option} {value!r} is not a date; write it as YYYY-MM-DD, e.g. 2026-10-01"
        ) from None


def report_zone(inventory: Inventory | None, journal: Journal | None = None) -> tzinfo:
    """The time zone a report's days and months are counted in: the inventory's (the
    institution's own day, Asia/Shanghai by default); without one, the zone the journal's
    runs share (`runs_zone`); UTC when they share none."""
    if inventory is not None:
        return ZoneInfo(inventory.timezone)
    return (runs_zone(journal) if journal is not None else None) or UTC


def runs_zone(journal: Journal) -> tzinfo | None:
    """The zone of the inventories every run in the journal was started with, when all
    that can still be read name the same one (one institution's journal); None when they
    disagree or none can be read. Every run of the journal counts, not only those of a
    period: the zone decides which runs a period holds, so it cannot depend on them."""
    zones = {
        str(zone): zone
        for run in journal.list_runs(ALL_RUNS)
        if run.mode != "plan" and (zone := named_zone_at(run.inventory_path)) is not None
    }
    return next(iter(zones.values())) if len(zones) == 1 else None


def period_bounds(start: date, end: date, zone: tzinfo = UTC) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in `zone`: both days are included."""
    if end < start:
        raise UserInputError(f"--to {end} is before --from {start}; give the earlier day first")
    low = datetime.combine(start, time(), zone)
    return low, datetime.combine(end + timedelta(days=1), time(), zone)


def _at(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def figure(records: list[MeasurementRecord], name: str, source: str) -> dict[str, Any] | None:
    """The first `name` measurement from `source` (the engine records one per run)."""
    for m in records:
        if m.name == name and m.source == source:
            return {
                "seconds": m.value_seconds,
                "target_seconds": m.target_seconds,
                "met": m.met,
                "detail": m.detail,
            }
    return None


def run_occasion(journal: Journal, run: RunRecord) -> dict[str, Any]:
    records = verified_measurements(journal, run.id)
    rto = figure(records, "rto_seconds", "runbook")
    rpo = figure(records, "rpo_seconds", "runbook")
    lab_rto = figure(records, "rto_seconds", "lab")
    lab_rpo = figure(records, "rpo_seconds", "lab")
    system = next((f["detail"].get("system") for f in (rto, rpo) if f), None)
    return {
        "id": run.id,
        "kind": "drill" if run.mode == "drill" else "real run",
        "system": system or "(unassigned)",
        "procedure": run.runbook,
        "at": run.started_at,
        "status": run.status,
        "inventory": run.inventory_name,
        "rto": rto,
        "rpo": rpo,
        "observed": {"rto": lab_rto, "rpo": lab_rpo} if (lab_rto or lab_rpo) else None,
    }


def restore_occasion(data: dict[str, Any]) -> dict[str, Any]:
    def converted(key: str) -> dict[str, Any] | None:
        found = data.get("measurements", {}).get(key) or {}
        if found.get("seconds") is None:
            return None
        return {
            "seconds": found["seconds"],
            "target_seconds": found.get("target_seconds"),
            # The test's own verdict; older journals say "missed", which met_of reads.
            "met": met_of(found.get("verdict")),
            "detail": {},
        }

    return {
        "id": data["test_id"],
        "kind": "restore test",
        "system": f"backup set {data['backup_set']}",
        "backup_set": data["backup_set"],
        "procedure": "restore-test",
        "at": data["started_at"],
        "status": data["outcome"],
        "inventory": None,
        "rto": converted("rto"),
        "rpo": converted("rpo"),
        "observed": None,
        "cause": data.get("cause"),
    }


def occasions_between(journal: Journal, low: datetime, high: datetime) -> list[dict[str, Any]]:
    found = [
        run_occasion(journal, run)
        for run in journal.list_runs(ALL_RUNS)
        if run.mode != "plan" and low <= _at(run.started_at) < high
    ]
    for event in journal.events(kinds=("restore_test.finished",)):
        if low <= _at(event.data["started_at"]) < high:
            found.append(restore_occasion(event.data))
    return sorted(found, key=lambda o: _at(o["at"]))


def month_of(text: str, zone: tzinfo = UTC) -> str:
    """The month (in `zone`) of a journal time."""
    return _at(text).astimezone(zone).strftime("%Y-%m")


def months_between(low: datetime, high: datetime) -> list[str]:
    """The months from `low` up to `high` (excluded), counted in `low`'s time zone."""
    if high <= low:
        return []
    high = high.astimezone(low.tzinfo)
    months, year, month = [], low.year, low.month
    last = (high - timedelta(microseconds=1)).strftime("%Y-%m")
    while True:
        key = f"{year:04d}-{month:02d}"
        months.append(key)
        if key >= last:
            return months
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
