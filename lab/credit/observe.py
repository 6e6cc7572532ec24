"""What a drill really did to the service, from the prober's and load generator's logs.

A runbook records when it believes service was lost and restored; these functions give
the independent view a drill is compared against: the outages a branch saw (observed
RTO) and the acknowledged writes the database no longer holds (observed RPO, in writes
and in the time they span). Pure reads of the logs, plus one batch of queries.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg2

from lab.credit.schema import connect
from lab.errors import LabError

# kind in the load generator's log -> the table and the column that timestamps its row.
_TABLES = {"loan": ("loans", "issued_at"), "repayment": ("repayments", "paid_at")}
_BATCH = 10_000


@dataclass(frozen=True)
class Outage:
    """A stretch a prober saw the service down. ``resolved`` is False when it was still
    down where observation ended (``until``, the prober's stop, or now): ``end`` is then
    that moment, and ``seconds`` a lower bound."""

    start: datetime
    end: datetime
    seconds: float
    resolved: bool = True


@dataclass(frozen=True)
class AckedWrite:
    kind: str
    id: int
    acked_at: datetime
    latency_ms: float
    row_at: datetime | None = None
    committed_at: datetime | None = None


@dataclass(frozen=True)
class LostWrites:
    """Acknowledged writes missing from the database, in acknowledgement order."""

    writes: tuple[AckedWrite, ...]

    @property
    def first_acked_at(self) -> datetime | None:
        return self.writes[0].acked_at if self.writes else None

    @property
    def last_acked_at(self) -> datetime | None:
        return self.writes[-1].acked_at if self.writes else None

    @property
    def seconds(self) -> float:
        """The time the lost writes span, from the first to the last acknowledgement."""
        if not self.writes:
            return 0.0
        return (self.writes[-1].acked_at - self.writes[0].acked_at).total_seconds()

    def __len__(self) -> int:
        return len(self.writes)

    def excluding(self, earlier: set[tuple[str, int]]) -> LostWrites:
        """Without the writes (kind, id) lost before: the load generator's log spans the
        lab session, and earlier drills (an asynchronous cutover) lose writes on purpose."""
        return LostWrites(tuple(w for w in self.writes if (w.kind, w.id) not in earlier))

    def __iter__(self) -> Iterator[AckedWrite]:
        return iter(self.writes)


def observed_outages(
    prober_log: Path, since: datetime | None = None, until: datetime | None = None
) -> list[Outage]:
    """The outages in a prober log, clipped to [since, until] (aware datetimes; naive
    ones are taken as UTC)."""
    since, until = _aware(since), _aware(until)
    stretches: list[tuple[datetime, datetime, bool]] = []
    down_at: datetime | None = None
    for record in _records(prober_log):
        event, at = record.get("event"), _time(record.get("at"))
        if at is None:
            continue
        if event == "down" and down_at is None:
            down_at = at
        elif event == "up" and down_at is not None:
            stretches.append((down_at, at, True))
            down_at = None
        elif event in ("stop", "start") and down_at is not None:
            # The prober stopped (or was killed and restarted) while the service was down.
            stretches.append((down_at, at, False))
            down_at = None
    if down_at is not None:
        stretches.append((down_at, until or datetime.now(UTC), False))
    outages = []
    for start, end, resolved in stretches:
        if (since is not None and end <= since) or (until is not None and start >= until):
            continue
        clipped_start = max(start, since) if since is not None else start
        clipped_end = min(end, until) if until is not None else end
        still_down = not resolved or clipped_end < end
        seconds = (clipped_end - clipped_start).total_seconds()
        outages.append(Outage(clipped_start, clipped_end, seconds, not still_down))
    return outages


def longest_outage(
    prober_log: Path, since: datetime | None = None, until: datetime | None = None
) -> Outage | None:
    return max(observed_outages(prober_log, since, until), key=lambda o: o.seconds, default=None)


def acknowledged_writes(loadgen_log: Path, until: datetime | None = None) -> list[AckedWrite]:
    """Every write the service acknowledged, up to ``until`` (by acknowledgement time)."""
    until = _aware(until)
    writes = []
    for record in _records(loadgen_log):
        if record.get("event") != "ack":
            continue
        acked_at = _time(record.get("acked_at"))
        if acked_at is None or not isinstance(record.get("id"), int):
            continue
        if until is not None and acked_at > until:
            continue
        writes.append(
            AckedWrite(
                kind=str(record.get("kind")),
                id=record["id"],
                acked_at=acked_at,
                latency_ms=float(record.get("latency_ms") or 0.0),
                row_at=_time(record.get("row_at")),
                committed_at=_time(record.get("committed_at")),
            )
        )
    return writes


def lost_writes(loadgen_log: Path, dsn: str, until: datetime | None = None) -> LostWrites:
    """Acknowledged writes (up to ``until``) whose row the database at ``dsn`` lacks.

    A row counts as present only with the id *and* the timestamp the service reported:
    after a failover that lost writes, the promoted server can hand the same id to a
    new row, which must not hide the loss.
    """
    writes = acknowledged_writes(loadgen_log, until)
    unknown = sorted({w.kind for w in writes} - _TABLES.keys())
    if unknown:
        raise LabError(f"{loadgen_log} holds writes of unknown kinds: {', '.join(unknown)}")
    stored = _stored_rows(dsn, writes)
    missing = tuple(
        write
        for write in writes
        if (write.kind, write.id) not in stored
        or (write.row_at is not None and stored[(write.kind, write.id)] != write.row_at)
    )
    return LostWrites(missing)


def _stored_rows(dsn: str, writes: list[AckedWrite]) -> dict[tuple[str, int], datetime]:
    """(kind, id) -> the row's timestamp, for those of ``writes`` the database has."""
    stored: dict[tuple[str, int], datetime] = {}
    with connect(dsn) as conn:
        conn.set_session(readonly=True)
        try:
            with conn.cursor() as cursor:
                for kind, (table, column) in _TABLES.items():
                    ids = sorted({w.id for w in writes if w.kind == kind})
                    for offset in range(0, len(ids), _BATCH):
                        cursor.execute(
                            # Table and column names come from _TABLES, never from input.
                            f"SELECT id, {column} FROM {table} WHERE id = ANY(%s)",
                            (ids[offset : offset + _BATCH],),
                        )
                        stored.update({(kind, row[0]): row[1] for row in cursor.fetchall()})
        except psycopg2.Error as err:
            raise LabError(f"cannot look up acknowledged writes: {str(err).strip()}") from None
        finally:
            conn.rollback()
    return stored


def _records(path: Path) -> Iterator[dict[str, Any]]:
    """The JSON objects of a log; a torn last line (writer killed mid-write) is skipped."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as err:
        raise LabError(f"cannot read the lab log {path}: {err.strerror}") from None
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                yield record


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
