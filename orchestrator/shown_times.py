"""One way to print a moment for a person: in the institution's zone (the inventory's
`timezone`, Asia/Shanghai by default), with the zone said beside it, the same in every
command, table and report. The journal keeps UTC; only what people read is converted.

The offset form ("UTC+08:00") is used rather than an abbreviation because "CST" means
China Standard Time to the operator and US Central Time to a library."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory

# Used when a command has no inventory to read the zone from (e.g. `dr runs show` on a
# journal alone): the zone every shipped inventory defaults to.
DEFAULT_ZONE = "Asia/Shanghai"


def zone_of(inventory: Inventory | None) -> tzinfo:
    """The zone people read times in: the inventory's, or the default zone without one."""
    return ZoneInfo(inventory.timezone if inventory is not None else DEFAULT_ZONE)


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


def shown_time(value: datetime | str | None, zone: tzinfo, *, seconds: bool = True) -> str:
    """'2026-12-04 15:32:08 UTC+08:00'; '-' for no time. Text that is not a timestamp is
    returned as it is rather than hidden (it is what the journal holds)."""
    return _shown(value, zone, "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def shown_clock(value: datetime | str | None, zone: tzinfo) -> str:
    """'15:32:08 UTC+08:00': the time of day alone, for tables whose rows share a day."""
    return _shown(value, zone, "%H:%M:%S")


def _shown(value: datetime | str | None, zone: tzinfo, pattern: str) -> str:
    if value is None or value == "":
        return "-"
    try:
        moment = as_moment(value).astimezone(zone)
    except ValueError:
        return str(value)
    return f"{moment.strftime(pattern)} {zone_label(zone, moment)}"
