"""The point an operator asks a restore to reach, from a runbook's parameters.

    -p to=latest                      everything archived
    -p to="2026-12-03 14:32:00"       that moment, in the inventory's time zone
    -p to="2026-12-03T06:32:00+00:00" that moment, in the zone written
    -p before_xid=123456              just before transaction 123456 (the bad statement)
    -p before_lsn=0/3A000060          just before that WAL position

"Just before" is pgBackRest's exclusive target: the transaction at the target itself is
not replayed, so a destructive statement named by its transaction id stays undone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from backups.pgbackrest.restore import RecoveryTarget
from orchestrator.errors import UserInputError

LATEST = "latest"
_FORMS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True)
class RequestedPoint:
    target: RecoveryTarget
    # The moment asked for, when the target is a time (for the RPO and the report).
    moment: datetime | None = None

    def describe(self) -> str:
        return self.target.describe()


def requested_point(
    to: object, before_xid: object, before_lsn: object, timezone: str
) -> RequestedPoint:
    """One target from the three parameters (at most one may be set besides to=latest)."""
    chosen = [
        name
        for name, value in (("to", to), ("before_xid", before_xid), ("before_lsn", before_lsn))
        if _given(value) and not (name == "to" and str(value).strip() == LATEST)
    ]
    if len(chosen) > 1:
        raise UserInputError(
            f"give one recovery point, not {' and '.join(chosen)}: -p to=TIME, "
            "-p before_xid=XID or -p before_lsn=LSN (or -p to=latest)"
        )
    try:
        if _given(before_xid):
            return RequestedPoint(RecoveryTarget.at_xid(str(before_xid).strip(), exclusive=True))
        if _given(before_lsn):
            return RequestedPoint(RecoveryTarget.at_lsn(str(before_lsn).strip(), exclusive=True))
    except ValueError as err:
        raise UserInputError(f"{err}; -p before_xid=XID or -p before_lsn=LSN") from None
    if not _given(to) or str(to).strip() == LATEST:
        return RequestedPoint(RecoveryTarget.latest())
    moment = parse_moment(str(to), timezone)
    return RequestedPoint(RecoveryTarget.at_time(moment), moment)


def parse_moment(text: str, timezone: str) -> datetime:
    """A time as an operator writes it; without a zone it is the inventory's."""
    value = text.strip()
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        moment = None
        for form in _FORMS:
            try:
                moment = datetime.strptime(value, form)
                break
            except ValueError:
                continue
    if moment is None:
        raise UserInputError(
            f'-p to={text!r} is not a time; write e.g. to="2026-12-03 14:32:00" (in the '
            f"inventory's time zone, {timezone}) or to=latest"
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=ZoneInfo(timezone))


def _given(value: object) -> bool:
    return value is not None and str(value).strip() != ""
