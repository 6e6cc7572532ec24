"""Replication lag: how far a standby's data trails its primary's, and whether that is
within the pair's RPO target (the cutover's gate and the scheduler's lag watch).

Two measures, both from the status fact (status.py, read-only SQL):

- **bytes**: WAL the standby has not replayed. With the primary answering, the
  primary's current write position minus the standby's replay position (basis
  `primary`). Without it (the real failover: the primary is dead or fenced), the
  standby's received minus replayed WAL (basis `standby`): what it holds but has not
  applied yet. What it never received cannot be known without the primary, and the
  reading says so. Unless the scheduler's lag watch saw the primary a little earlier
  (last_known_primary.py): then the primary's last known write position minus the
  standby's replay position (basis `last_known_primary`), or the standby's received
  position where that is further on. A stream cut minutes before the primary died
  shows as bytes behind, where the standby alone reads as caught up.
- **seconds**: how old the standby's newest data is while it is behind: the server's
  clock minus the commit time of the last replayed transaction. Zero when the standby
  is caught up (within `IDLE_WAL_BYTES`), because an idle primary writes no commits and
  the standby's last commit then ages without anything being missing; so the seconds
  mean something only while the primary writes, and the bytes decide when it does not.
  Against a last known position, at least the time of that reading minus the last
  replayed commit (the primary had written past the standby by then).

Like Patroni's `maximum_lag_on_failover`, the gate compares the bytes with a limit; it
also compares the seconds with the pair's RPO. A synchronous pair expects RPO 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from orchestrator.postgresql.errors import UnreadableOutput
from orchestrator.postgresql.last_known_primary import PrimaryPosition
from orchestrator.postgresql.status import DatabaseStatus, wal_position
from orchestrator.text import Text

Basis = Literal["primary", "standby", "last_known_primary"]
# An idle primary still writes small WAL records (a running-transactions snapshot every
# 15 s, checkpoints) that the standby replays a moment later: below one WAL page
# behind, the standby counts as caught up for the seconds, or an idle pair's old last
# commit would read as lag. The bytes are reported as they are.
IDLE_WAL_BYTES = 8192
_Measure = TypeVar("_Measure", int, float)


@dataclass(frozen=True)
class Lag:
    """One reading of a standby's lag (None: that measure could not be taken)."""

    bytes: int | None
    seconds: float | None
    basis: Basis
    replay_paused: bool = False
    last_replay_at: datetime | None = None
    # Basis `last_known_primary`: the lag watch's reading of the primary compared with,
    # and how long before this reading it was taken.
    known_primary: PrimaryPosition | None = None
    known_age_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        known = self.known_primary
        return {
            "bytes": self.bytes,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "basis": self.basis,
            "replay_paused": self.replay_paused,
            "last_replay_at": self.last_replay_at.isoformat() if self.last_replay_at else None,
            "last_known_primary": None
            if known is None
            else {**known.to_dict(), "age_seconds": _rounded(self.known_age_s)},
        }

    def describe(self) -> Text:
        amount = _amount(self.bytes)
        age = "?" if self.seconds is None else f"{self.seconds:.1f}"
        zh_basis, en_basis = self._basis_words()
        paused = (
            ("；备机回放已暂停", "; the standby's replay is paused")
            if self.replay_paused
            else ("", "")
        )
        return Text(
            zh=f"备机落后 {amount} 字节，其最新已回放事务距今 {age} 秒（{zh_basis}）{paused[0]}",
            en=f"the standby is {amount} bytes behind and its newest replayed commit is "
            f"{age} s old ({en_basis}){paused[1]}",
        )

    def _basis_words(self) -> tuple[str, str]:
        if self.basis == "primary":
            return "与主库当前写入位置相比", "against the primary's current write position"
        if self.basis == "last_known_primary" and self.known_primary is not None:
            at = self.known_primary.checked_at.isoformat(timespec="seconds")
            before = "?" if self.known_age_s is None else f"{self.known_age_s:.0f}"
            return (
                f"主库不可达，与复制延迟监测于 {at}（本次读数前 {before} 秒）"
                "读到的主库最后写入位置相比",
                f"the primary does not answer: against the primary's last position seen by "
                f"the lag watch at {at} ({before} s before this reading)",
            )
        return (
            "主库不可达，按备机已接收未回放的 WAL 计；未接收到的无法得知",
            "the primary does not answer: WAL received but not replayed on the standby; "
            "what it never received cannot be known",
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _amount(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def measure(
    standby: DatabaseStatus,
    primary: DatabaseStatus | None,
    last_known: PrimaryPosition | None = None,
) -> Lag:
    """The standby's lag, against `primary`'s write position when that is known, else
    against `last_known` (the lag watch's last reading of the primary) when given, else
    from the standby alone."""
    paused = bool(standby.replay_paused)
    replayed = _position(standby.replay_lsn)
    if primary is not None and primary.is_primary and primary.current_lsn:
        basis: Basis = "primary"
        ahead, clock = _position(primary.current_lsn), primary.checked_at
    else:
        basis, ahead, clock = "standby", _position(standby.receive_lsn), standby.checked_at
    lag_bytes = _behind(ahead, replayed)
    alone = Lag(
        bytes=lag_bytes,
        seconds=_seconds(lag_bytes, clock, standby.last_replay_at),
        basis=basis,
        replay_paused=paused,
        last_replay_at=standby.last_replay_at,
    )
    if basis == "primary" or last_known is None:
        return alone
    return _against_last_known(alone, standby, replayed, last_known)


def _against_last_known(
    alone: Lag, standby: DatabaseStatus, replayed: int | None, known: PrimaryPosition
) -> Lag:
    """The standby-alone reading raised to what the primary's last known position shows:
    never less than the standby's own figures (its received position may be further on
    than a reading taken up to an interval before the stream stopped)."""
    known_bytes = _behind(_position(known.lsn), replayed)
    known_seconds = _seconds(known_bytes, known.checked_at, standby.last_replay_at)
    age = None
    if standby.checked_at is not None:
        age = max(0.0, (standby.checked_at - known.checked_at).total_seconds())
    return Lag(
        bytes=_larger(alone.bytes, known_bytes),
        seconds=_larger(alone.seconds, known_seconds),
        basis="last_known_primary",
        replay_paused=alone.replay_paused,
        last_replay_at=alone.last_replay_at,
        known_primary=known,
        known_age_s=age,
    )


def _behind(ahead: int | None, replayed: int | None) -> int | None:
    return None if replayed is None or ahead is None else max(0, ahead - replayed)


def _larger(one: _Measure | None, other: _Measure | None) -> _Measure | None:
    # A measure one reading could take and the other could not is the one taken.
    if one is None:
        return other
    if other is None:
        return one
    return max(one, other)


def _position(lsn: str | None) -> int | None:
    if not lsn:
        return None
    try:
        return wal_position(lsn)
    except UnreadableOutput:
        return None


def _seconds(
    lag_bytes: int | None, clock: datetime | None, replayed: datetime | None
) -> float | None:
    if lag_bytes is not None and lag_bytes <= IDLE_WAL_BYTES:
        return 0.0
    if clock is None or replayed is None:
        return None
    return max(0.0, (clock - replayed).total_seconds())


# ---- the limit and the judgement ---------------------------------------------------------


@dataclass(frozen=True)
class LagLimit:
    """How far behind a standby may be and still be promoted without asking: bytes
    (`max_lag_on_failover`) and seconds (the pair's RPO); None: no limit of that kind."""

    max_bytes: int | None = None
    max_seconds: float | None = None
    synchronous: bool = False

    @classmethod
    def of(cls, *, max_bytes: int | None, max_seconds: float | None, synchronous: bool) -> LagLimit:
        # A synchronous pair promises that no acknowledged commit is lost: RPO 0.
        if synchronous:
            return cls(0, 0.0, True)
        return cls(max_bytes, max_seconds, False)

    @property
    def any(self) -> bool:
        return self.max_bytes is not None or self.max_seconds is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_bytes": self.max_bytes,
            "max_seconds": self.max_seconds,
            "synchronous": self.synchronous,
        }


@dataclass(frozen=True)
class LagVerdict:
    """Whether a reading is within the limit, and why not."""

    within: bool
    lag: Lag
    limit: LagLimit
    reasons: tuple[Text, ...] = ()

    def describe(self) -> Text:
        head = self.lag.describe()
        if self.within:
            return Text(zh=f"{head.zh}：在 RPO 目标之内", en=f"{head.en}: within the RPO target")
        why_zh = "；".join(r.zh for r in self.reasons)
        why_en = "; ".join(r.en for r in self.reasons)
        return Text(
            zh=f"{head.zh}：超出 RPO 目标（{why_zh}）",
            en=f"{head.en}: behind the RPO target ({why_en})",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "within": self.within,
            "lag": self.lag.to_dict(),
            "limit": self.limit.to_dict(),
            "reasons": [r.to_dict() for r in self.reasons],
        }


def judge(lag: Lag, limit: LagLimit) -> LagVerdict:
    """Within the limit, or behind it and by how much. A measure the limit needs but that
    could not be taken counts as behind: the gate must not wave through what it cannot see."""
    reasons: list[Text] = []
    if limit.max_bytes is not None:
        if lag.bytes is None:
            reasons.append(Text(zh="无法测得落后字节数", en="the bytes behind cannot be measured"))
        elif lag.bytes > limit.max_bytes:
            reasons.append(
                Text(
                    zh=f"落后 {_amount(lag.bytes)} 字节，上限 {_amount(limit.max_bytes)} 字节",
                    en=f"{_amount(lag.bytes)} bytes behind, limit {_amount(limit.max_bytes)}",
                )
            )
    if limit.max_seconds is not None:
        if lag.seconds is None:
            reasons.append(Text(zh="无法测得落后秒数", en="the seconds behind cannot be measured"))
        elif lag.seconds > limit.max_seconds:
            reasons.append(
                Text(
                    zh=f"落后 {lag.seconds:.1f} 秒，RPO 目标 {limit.max_seconds:g} 秒",
                    en=f"{lag.seconds:.1f} s behind, RPO target {limit.max_seconds:g} s",
                )
            )
    return LagVerdict(not reasons, lag, limit, tuple(reasons))
