"""One way to print a moment for a person: in the institution's zone (the inventory's
`timezone`, Asia/Shanghai by default), with the zone said beside it, the same in every
command, table and report. The journal keeps UTC; only what people read is converted.

The offset form ("UTC+08:00") is used rather than an abbreviation because "CST" means
China Standard Time to the operator and US Central Time to a library."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

# Used when a command has no inventory to read the zone from (e.g. `dr runs show` on a
# journal alone): the zone every shipped inventory defaults to.
DEFAULT_ZONE = "Asia/Shanghai"


def zone_of(inventory: Inventory | None) -> tzinfo:
    """The zone people read times in: the inventory's, or the default zone without one."""
    return ZoneInfo(inventory.timezone if inventory is not None else DEFAULT_ZONE)


def zone_named(name: str | None) -> tzinfo:
    """The zone a report document names (its "timezone" field); the default zone for a
    document written before reports said their zone."""
    return ZoneInfo(name or DEFAULT_ZONE)


def run_zone(doc: dict[str, Any]) -> tzinfo:
    """The zone of the inventory a run was started with (a run document's
    `inventory.path`)."""
    return zone_at(str((doc.get("inventory") or {}).get("path") or ""))


def zone_at(inventory_path: str) -> tzinfo:
    """The zone of the inventory at `inventory_path`; the default zone when that file is
    not on this machine (or no longer loads): a list of runs still prints."""
    return named_zone_at(inventory_path) or zone_of(None)


@lru_cache(maxsize=32)
def named_zone_at(inventory_path: str) -> tzinfo | None:
    """The zone of the inventory at `inventory_path`; None when that file is not on this
    machine or no longer loads (it names no zone we can read)."""
    from orchestrator.errors import DrError
    from orchestrator.inventory import load_inventory

    if inventory_path and Path(inventory_path).is_file():
        try:
            return zone_of(load_inventory(Path(inventory_path)))
        except (DrError, OSError):
            pass
    return None


def zone_label(zone: tzinfo, at: datetime | None = None) -> str:
    """'UTC+08:00' (or 'UTC' itself): the offset `zone` has at `at` (now by default)."""
    moment = (at or datetime.now(UTC)).astimezone(zone)
    offset = moment.utcoffset()
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    hours, rest = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{rest:02d}"


def as_moment(value: datetime | str) -> datetime:
    """A journal's timestamp (ISO text or datetime) as an aware datetime; naive means UTC,
    as the journal writes it."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def shown_time(
    value: datetime | str | None, zone: tzinfo, *, seconds: bool = True, millis: bool = False
) -> str:
    """'2026-12-04 15:32:08 UTC+08:00' ('...15:32:08.125 UTC+08:00' with `millis`); '-'
    for no time. Text that is not a timestamp is returned as it is rather than hidden (it
    is what the journal holds)."""
    if millis:
        return _shown(value, zone, _MILLIS)
    return _shown(value, zone, "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def shown_clock(value: datetime | str | None, zone: tzinfo) -> str:
    """'15:32:08 UTC+08:00': the time of day alone, for tables whose rows share a day."""
    return _shown(value, zone, "%H:%M:%S")


def shown_column(
    values: Sequence[datetime | str | None], zone: tzinfo, *, millis: bool = False
) -> tuple[str, list[str]]:
    """Times for one table column, the zone said once: ('UTC+08:00', ['2026-12-04
    15:32:08', ...]), the label for the column's heading. A time whose offset differs
    from the heading's (the column crosses a change to or from summer time) says its own,
    so no time is read in the wrong offset."""
    moments = [_moment(v, zone) for v in values]
    label = zone_label(zone, next((m for m in moments if m is not None), None))
    pattern = _MILLIS if millis else "%Y-%m-%d %H:%M:%S"
    shown = []
    for value, moment in zip(values, moments, strict=True):
        if moment is None:
            shown.append("-" if value is None or value == "" else str(value))
            continue
        own = zone_label(zone, moment)
        text = _format(moment, pattern)
        shown.append(text if own == label else f"{text} {own}")
    return label, shown


# Milliseconds: the order of events a second apart reads in a timeline.
_MILLIS = "%Y-%m-%d %H:%M:%S.%f"


def _moment(value: datetime | str | None, zone: tzinfo) -> datetime | None:
    if value is None or value == "":
        return None
    try:
        return as_moment(value).astimezone(zone)
    except ValueError:
        return None


def _format(moment: datetime, pattern: str) -> str:
    text = moment.strftime(pattern)
    return text[:-3] if pattern.endswith("%f") else text


def _shown(value: datetime | str | None, zone: tzinfo, pattern: str) -> str:
    moment = _moment(value, zone)
    if moment is None:
        return "-" if value is None or value == "" else str(value)
    return f"{_format(moment, pattern)} {zone_label(zone, moment)}"
