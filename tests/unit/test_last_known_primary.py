"""The primary's last known position, found among the lag watch's samples in a real
SQLite journal, and the lag measured against it once the primary is gone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from orchestrator.journal import Journal
from orchestrator.postgresql.lag import IDLE_WAL_BYTES, LagLimit, judge, measure
from orchestrator.postgresql.last_known_primary import (
    MIN_LOOKBACK,
    SAMPLE_KIND,
    PrimaryPosition,
    lookback,
    newest_position,
    sample_positions,
)
from orchestrator.postgresql.status import DatabaseStatus

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(f"sqlite:///{tmp_path / 'journal.sqlite3'}")


def _status(
    *, primary: bool, lsn: str, at: datetime, replayed_at: datetime | None = None
) -> DatabaseStatus:
    if primary:
        return DatabaseStatus(False, None, None, None, current_lsn=lsn, checked_at=at)
    return DatabaseStatus(True, lsn, lsn, replayed_at, replay_paused=False, checked_at=at)


def _sample(
    journal: Journal,
    at: datetime,
    *,
    pair: str = "credit",
    primary: str | None = "dc-a",
    standby: str | None = "dc-b",
    primary_lsn: str = "0/5000000",
    positions: bool = True,
) -> int:
    data: dict[str, Any] = {"pair": pair, "primary": primary, "standby": standby, "lag": None}
    if positions:
        primary_status = (
            _status(primary=True, lsn=primary_lsn, at=at) if primary is not None else None
        )
        standby_status = (
            _status(primary=False, lsn="0/4000000", at=at) if standby is not None else None
        )
        data["positions"] = sample_positions(primary, primary_status, standby_status)
    return journal.append(SAMPLE_KIND, data=data, at=at.isoformat(timespec="microseconds"))


def _find(journal: Journal, *, primary: str = "dc-a", standby: str = "dc-b", interval: float = 60):
    samples = journal.events(
        kinds=(SAMPLE_KIND,), since=NOW - lookback(interval), newest_first=True
    )
    return newest_position(samples, pair="credit", primary=primary, standby=standby)


def test_newest_sample_with_the_primary_answering_is_the_last_known_position(journal):
    _sample(journal, NOW - timedelta(minutes=12), primary_lsn="0/4800000")
    seq = _sample(journal, NOW - timedelta(minutes=11), primary_lsn="0/5000000")
    # The primary died: the watch kept looking, the primary no longer answered.
    _sample(journal, NOW - timedelta(minutes=10), primary=None)
    _sample(journal, NOW - timedelta(minutes=9), primary=None)
    _sample(journal, NOW - timedelta(minutes=8), pair="other", primary_lsn="0/9000000")
    found = _find(journal)
    assert found is not None
    assert (found.lsn, found.seq, found.primary) == ("0/5000000", seq, "dc-a")
    assert found.checked_at == NOW - timedelta(minutes=11)


def test_the_primary_answering_alone_still_gives_its_position(journal):
    # The standby's database was down for that reading; the primary answered as primary.
    seq = _sample(journal, NOW - timedelta(minutes=4), standby=None, primary_lsn="0/6000000")
    found = _find(journal)
    assert found is not None and (found.seq, found.lsn) == (seq, "0/6000000")
    recorded = journal.events(kinds=(SAMPLE_KIND,))[-1].data["positions"]
    assert recorded["standby_replay_lsn"] is None and recorded["primary"] == "dc-a"


def test_samples_from_before_the_positions_were_recorded_are_not_usable(journal):
    _sample(journal, NOW - timedelta(minutes=2), positions=False)
    assert _find(journal) is None
    seq = _sample(journal, NOW - timedelta(minutes=3))  # older, but with the positions
    found = _find(journal)
    assert found is not None and found.seq == seq


def test_a_sample_with_the_roles_reversed_ends_the_search(journal):
    # Before a switchover dc-a was primary; since, dc-b has been (roles reversed).
    _sample(journal, NOW - timedelta(minutes=30), primary_lsn="0/3000000")
    _sample(journal, NOW - timedelta(minutes=20), primary="dc-b", standby="dc-a")
    assert _find(journal) is None
    found = _find(journal, primary="dc-b", standby="dc-a")
    assert found is not None and found.primary == "dc-b"
    # A sample where the old primary answered only as a standby counts as reversed too.
    _sample(journal, NOW - timedelta(minutes=5), primary=None, standby="dc-a")
    assert _find(journal, primary="dc-a", standby="dc-b") is None


def test_samples_older_than_the_lookback_are_ignored(journal):
    assert lookback(60) == MIN_LOOKBACK
    assert lookback(3 * 3600) == timedelta(hours=9)
    _sample(journal, NOW - MIN_LOOKBACK - timedelta(minutes=1))
    assert _find(journal) is None
    # The same age is within three intervals of a watch that looks every hour.
    assert _find(journal, interval=3600) is not None


STANDBY_CUT_OFF = DatabaseStatus(
    in_recovery=True,
    receive_lsn="0/4000000",
    replay_lsn="0/4000000",
    last_replay_at=NOW - timedelta(minutes=10),
    replay_paused=False,
    checked_at=NOW,
)


def test_a_cut_stream_reads_as_caught_up_alone_and_behind_against_the_last_position():
    alone = measure(STANDBY_CUT_OFF, None)
    assert alone.basis == "standby" and alone.bytes == 0 and alone.seconds == 0.0
    known = PrimaryPosition("dc-a", "dc-b", "0/5000000", NOW - timedelta(minutes=1), 7)
    lag = measure(STANDBY_CUT_OFF, None, known)
    assert lag.basis == "last_known_primary" and lag.bytes == 0x1000000
    # At least from the last replayed commit to the reading of the primary: 9 minutes.
    assert lag.seconds == 540.0 and lag.known_age_s == 60.0
    verdict = judge(lag, LagLimit(max_bytes=1 << 20, max_seconds=60))
    assert not verdict.within and len(verdict.reasons) == 2
    text = verdict.describe()
    assert "against the primary's last position seen by the lag watch at" in text.en
    assert "(60 s before this reading)" in text.en
    assert "复制延迟监测于" in text.zh and "本次读数前 60 秒" in text.zh
    recorded = lag.to_dict()
    assert recorded["basis"] == "last_known_primary"
    assert recorded["last_known_primary"]["lsn"] == "0/5000000"
    assert recorded["last_known_primary"]["age_seconds"] == 60.0


def test_the_last_position_never_lowers_the_standbys_own_reading():
    # Received after the reading of the primary and not replayed: the standby's own
    # figures are further on, and they stand.
    paused = DatabaseStatus(
        True, "0/6000000", "0/4000000", NOW - timedelta(minutes=10),
        replay_paused=True, checked_at=NOW,
    )  # fmt: skip
    known = PrimaryPosition("dc-a", "dc-b", "0/5000000", NOW - timedelta(minutes=1), 7)
    lag = measure(paused, None, known)
    assert lag.bytes == 0x2000000 and lag.seconds == 600.0 and lag.replay_paused
    # Caught up with the last known position: nothing behind, no seconds either.
    caught_up = DatabaseStatus(True, "0/5000000", "0/5000000", NOW, checked_at=NOW)
    within = measure(caught_up, None, known)
    assert within.bytes == 0 and within.seconds == 0.0
    assert judge(within, LagLimit(max_bytes=IDLE_WAL_BYTES, max_seconds=0)).within


def test_the_primary_answering_outweighs_any_last_known_position():
    primary = DatabaseStatus(False, None, None, None, current_lsn="0/4001000", checked_at=NOW)
    known = PrimaryPosition("dc-a", "dc-b", "0/5000000", NOW - timedelta(minutes=1), 7)
    lag = measure(STANDBY_CUT_OFF, primary, known)
    assert lag.basis == "primary" and lag.bytes == 0x1000 and lag.known_primary is None
