"""The lag's measures and the gate's decision, from the status fact's text (what psql
prints on a primary and a standby), without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from orchestrator.inventory import HostPair
from orchestrator.postgresql import debian_commands
from orchestrator.postgresql.lag import Lag, LagLimit, judge, measure
from orchestrator.postgresql.replication import Replica, parse_replicas
from orchestrator.postgresql.status import DatabaseStatus, parse_status
from orchestrator.postgresql.synchronous import synchronous_replicas, waits_for_a_standby
from runbooks._lag_gate import gate_limit, watch_limit

T0 = datetime(2026, 12, 4, 10, 0, 0, tzinfo=UTC)
PRIMARY = (
    '{"in_recovery" : false, "receive_lsn" : null, "replay_lsn" : null, '
    '"last_replay_at" : null, "current_lsn" : "0/5000000", "replay_paused" : null, '
    '"synchronous_standby_names" : "*", "checked_at" : "2026-12-04T10:00:30+00:00"}\n'
)
STANDBY = (
    '{"in_recovery" : true, "receive_lsn" : "0/4800000", "replay_lsn" : "0/4000000", '
    '"last_replay_at" : "2026-12-04T10:00:00+00:00", "current_lsn" : null, '
    '"replay_paused" : true, "synchronous_standby_names" : "", '
    '"checked_at" : "2026-12-04T10:00:31+00:00"}\n'
)


def _standby(**changes: object) -> DatabaseStatus:
    base = parse_status(STANDBY)
    return DatabaseStatus(**{**base.__dict__, **changes})


def test_status_fact_reads_the_lag_fields_on_both_roles():
    primary, standby = parse_status(PRIMARY), parse_status(STANDBY)
    assert primary.current_lsn == "0/5000000" and primary.replay_paused is None
    assert primary.synchronous_standby_names == "*"
    assert standby.replay_paused is True and standby.checked_at == T0 + timedelta(seconds=31)


def test_status_from_an_older_command_without_the_lag_fields_still_parses():
    old = '{"in_recovery" : true, "receive_lsn" : "0/3000148", "replay_lsn" : "0/3000110", '
    old += '"last_replay_at" : null}'
    status = parse_status(old)
    assert status.current_lsn is None and status.checked_at is None
    lag = measure(status, None)
    # A few bytes behind is an idle primary's housekeeping: caught up, 0 s.
    assert lag.bytes == 0x38 and lag.seconds == 0.0 and lag.basis == "standby"
    behind = measure(DatabaseStatus(True, "0/3100000", "0/3000000", None), None)
    assert behind.bytes == 0x100000 and behind.seconds is None  # no clock, no commit time


def test_lag_against_the_primary_counts_what_the_standby_has_not_replayed():
    lag = measure(parse_status(STANDBY), parse_status(PRIMARY))
    assert lag.basis == "primary"
    assert lag.bytes == 0x1000000
    assert lag.seconds == 30.0  # the primary's clock minus the last replayed commit
    assert lag.replay_paused


def test_without_the_primary_the_standby_alone_tells_received_minus_replayed():
    lag = measure(parse_status(STANDBY), None)
    assert lag.basis == "standby" and lag.bytes == 0x800000 and lag.seconds == 31.0
    text = lag.describe()
    assert "cannot be known" in text.en and "无法得知" in text.zh
    assert "8,388,608 bytes" in text.en and "回放已暂停" in text.zh


def test_a_caught_up_standby_of_an_idle_primary_is_not_behind_in_seconds():
    # Nothing committed for an hour: the last replayed commit is old, nothing is missing.
    idle = _standby(receive_lsn="0/4000000", last_replay_at=T0 - timedelta(hours=1))
    lag = measure(idle, None)
    assert lag.bytes == 0 and lag.seconds == 0.0


def test_gate_passes_within_the_limits_and_stops_behind_them_saying_by_how_much():
    limit = LagLimit(max_bytes=16 * 1024 * 1024, max_seconds=60)
    within = judge(Lag(1024, 2.0, "standby"), limit)
    assert within.within and within.reasons == ()
    behind = judge(Lag(1024, 90.0, "standby"), limit)
    assert not behind.within
    assert "90.0 s behind, RPO target 60 s" in behind.describe().en
    assert "落后 90.0 秒，RPO 目标 60 秒" in behind.describe().zh
    too_many = judge(Lag(32 * 1024 * 1024, 1.0, "primary"), limit)
    assert not too_many.within and "33,554,432 bytes behind" in too_many.describe().en


def test_gate_treats_an_unmeasurable_lag_as_behind():
    verdict = judge(Lag(None, None, "standby"), LagLimit(max_bytes=0, max_seconds=0))
    assert not verdict.within and len(verdict.reasons) == 2
    assert "cannot be measured" in verdict.describe().en


def test_gate_without_any_target_waves_through():
    verdict = judge(Lag(10**9, 3600.0, "standby"), LagLimit())
    assert verdict.within and not verdict.limit.any


def _pair(**fields: object) -> HostPair:
    base = {"name": "credit", "service": "credit", "primary": "a", "standby": "b"}
    return HostPair.model_validate({**base, "vip": "10.0.0.10/24", **fields})


def test_a_synchronous_pair_is_held_to_rpo_zero_at_the_gate_only():
    pair = _pair(replication="synchronous", max_lag_on_failover=1048576, rpo="1m")
    assert gate_limit(pair) == LagLimit(0, 0.0, True)
    assert watch_limit(pair) == LagLimit(1048576, 60, True)
    assert not judge(Lag(1, 0.1, "standby"), gate_limit(pair)).within
    asynchronous = _pair(max_lag_on_failover=1048576, rpo="30s")
    assert gate_limit(asynchronous) == LagLimit(1048576, 30, False)


def test_inventory_refuses_a_negative_or_textual_byte_limit():
    with pytest.raises(ValueError, match="max_lag_on_failover"):
        _pair(max_lag_on_failover=-1)
    with pytest.raises(ValueError, match="max_lag_on_failover"):
        _pair(max_lag_on_failover="1MB")
    with pytest.raises(ValueError, match="replication"):
        _pair(replication="semi")


def test_synchronous_facts_name_the_standby_the_primary_waits_for():
    replicas = parse_replicas(
        '[{"application_name" : "b", "client_addr" : "10.0.0.2", "state" : "streaming", '
        '"replay_lsn" : "0/1", "sync_state" : "sync"}, {"application_name" : "c", '
        '"client_addr" : "10.0.0.3", "state" : "streaming", "replay_lsn" : "0/1", '
        '"sync_state" : "async"}]'
    )
    assert [r.client_addr for r in synchronous_replicas(replicas)] == ["10.0.0.2"]
    assert synchronous_replicas([Replica("b", "10.0.0.2", "streaming", "0/1")]) == []
    assert (
        waits_for_a_standby("*") and not waits_for_a_standby("") and not waits_for_a_standby(None)
    )


def test_debian_defaults_set_synchronous_in_separate_transactions():
    on = debian_commands.DEFAULTS["db_synchronous_on"]
    assert on.count(" -c ") == 2 and "synchronous_standby_names = '*'" in on
    assert "pg_reload_conf()" in debian_commands.DEFAULTS["db_synchronous_off"]
    # The status fact a Debian host runs prints the lag fields.
    assert "pg_current_wal_lsn()" in debian_commands.STATUS
    assert "pg_is_wal_replay_paused()" in debian_commands.STATUS


def test_the_lab_inventory_gives_the_pair_a_lag_target():
    from pathlib import Path

    lab = yaml.safe_load((Path(__file__).parents[2] / "inventory" / "lab.yaml").read_text())
    pair = lab["host_pairs"][0]
    assert pair["rpo"] == "20s" and pair["max_lag_on_failover"] == 1048576
