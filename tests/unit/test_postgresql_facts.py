"""PostgreSQL facts and operations (orchestrator/postgresql), without a server: each
parser on sample output, each builder's arguments, and the Debian default commands
made from them. The lab runs the same facts against real servers (integration)."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime, timedelta, timezone

import pytest

from orchestrator.postgresql import debian_commands as debian
from orchestrator.postgresql.errors import UnreadableOutput
from orchestrator.postgresql.promote import build_promote
from orchestrator.postgresql.replication import (
    REPLICAS_SQL,
    Replica,
    Upstream,
    build_base_backup,
    parse_replicas,
    pgpass_line,
    streaming_from,
)
from orchestrator.postgresql.rewind import build_rewind, failure_reason
from orchestrator.postgresql.status import (
    STATUS_SQL,
    build_control_data,
    parse_control_data,
    parse_status,
    wal_position,
)

# What psql -XAtq prints for STATUS_SQL (json_build_object puts spaces around colons).
PRIMARY_STATUS = (
    '{"in_recovery" : false, "receive_lsn" : null, "replay_lsn" : null, "last_replay_at" : null}\n'
)
STANDBY_STATUS = (
    '{"in_recovery" : true, "receive_lsn" : "0/3000148", "replay_lsn" : "0/3000110", '
    '"last_replay_at" : "2025-03-01T10:15:02.123456+08:00"}\n'
)
REPLICAS = (
    '[{"application_name" : "dc-b", "client_addr" : "10.77.1.12", "state" : "streaming", '
    '"replay_lsn" : "0/3000148"}, {"application_name" : "pg_basebackup", '
    '"client_addr" : "10.77.1.13", "state" : "backup", "replay_lsn" : null}]\n'
)
CONTROLDATA = """\
pg_control version number:            1300
Database cluster state:               shut down
Latest checkpoint location:           0/3754450
Latest checkpoint's REDO location:    0/3754450
Latest checkpoint's TimeLineID:       1
"""


# ---- status ------------------------------------------------------------------------


def test_status_of_a_primary_has_no_replication_position():
    status = parse_status(PRIMARY_STATUS)
    assert status.is_primary and not status.in_recovery
    assert (status.receive_lsn, status.replay_lsn, status.last_replay_at) == (None, None, None)


def test_status_of_a_standby_gives_positions_and_the_last_replayed_commit():
    status = parse_status(STANDBY_STATUS)
    assert status.in_recovery and not status.is_primary
    assert (status.receive_lsn, status.replay_lsn) == ("0/3000148", "0/3000110")
    assert status.last_replay_at == datetime(
        2025, 3, 1, 10, 15, 2, 123456, tzinfo=timezone(timedelta(hours=8))
    )
    assert status.last_replay_at.astimezone(UTC).hour == 2


def test_status_reads_the_last_line_after_a_banner():
    assert parse_status("Last login: yesterday\n" + STANDBY_STATUS).in_recovery


@pytest.mark.parametrize(
    "output",
    [
        "",
        "psql: error: connection to server failed\n",
        '{"receive_lsn" : null}\n',
        # psql's own t/f is not a JSON boolean, and bool("f") would be True.
        '{"in_recovery" : "f"}\n',
        "[]\n",
    ],
)
def test_status_refuses_output_that_is_not_the_status_json(output):
    with pytest.raises(UnreadableOutput, match="no status JSON"):
        parse_status(output)


# ---- replicas ------------------------------------------------------------------------


def test_replicas_are_read_from_the_json_list():
    replicas = parse_replicas(REPLICAS)
    assert replicas[0] == Replica("dc-b", "10.77.1.12", "streaming", "0/3000148")
    assert [r.streaming for r in replicas] == [True, False]
    assert parse_replicas("[]\n") == []


def test_only_a_streaming_replica_from_that_address_counts():
    replicas = parse_replicas(REPLICAS)
    assert streaming_from(replicas, "10.77.1.12") == replicas[0]
    assert streaming_from(replicas, "10.77.1.13") is None  # connected, but copying
    assert streaming_from(replicas, "10.77.1.99") is None


@pytest.mark.parametrize("output", ["", "ERROR: permission denied\n", '{"state" : "x"}\n'])
def test_replicas_refuse_output_that_is_not_a_json_list(output):
    with pytest.raises(UnreadableOutput, match="no JSON list of replicas"):
        parse_replicas(output)


# ---- control data and WAL positions ------------------------------------------------------


def test_controldata_gives_state_and_shutdown_checkpoint():
    parsed = parse_control_data(CONTROLDATA)
    assert parsed.shut_down_cleanly
    assert parsed.checkpoint_lsn == "0/3754450"


def test_a_standby_stop_or_a_crash_is_not_a_clean_primary_shutdown():
    for state in ("shut down in recovery", "in production"):
        assert not parse_control_data(CONTROLDATA.replace("shut down", state, 1)).shut_down_cleanly


def test_controldata_refuses_a_report_without_state_or_checkpoint():
    with pytest.raises(UnreadableOutput, match="no cluster state"):
        parse_control_data("pg_controldata: error: could not open file")


def test_wal_positions_order_across_the_slash():
    assert wal_position("0/FFFFFFFF") < wal_position("1/0")
    assert wal_position("0/37544C8") > wal_position("0/3754450")
    assert wal_position("16/B374D848") == (0x16 << 32) | 0xB374D848


def test_wal_position_refuses_text_that_is_not_a_position():
    with pytest.raises(UnreadableOutput, match="not a PostgreSQL WAL position"):
        wal_position("3754450")


# ---- making a standby: password, rewind, base backup, promotion ---------------------------


def test_pgpass_line_escapes_colons_and_backslashes_in_the_password():
    line = pgpass_line("10.77.1.12", 5432, "replicator", r"a:b\c")
    assert line == "10.77.1.12:5432:*:replicator:a\\:b\\\\c\n"


def test_rewind_follows_the_upstream_as_its_standby():
    args = build_rewind("/data", Upstream("10.77.1.11", 5432, "replicator"))
    assert args == [
        "-D",
        "/data",
        "--source-server=host=10.77.1.11 port=5432 user=replicator dbname=postgres",
        "--write-recovery-conf",
    ]


def test_base_backup_never_prompts_and_makes_a_standby():
    args = build_base_backup("/data", Upstream("10.77.1.11", 5432, "replicator"))
    assert args[:8] == ["-D", "/data", "-h", "10.77.1.11", "-p", "5432", "-U", "replicator"]
    assert {"--no-password", "--write-recovery-conf", "--wal-method=stream"} <= set(args)
    assert not any(a.startswith("--slot") for a in args)
    slotted = build_base_backup("/data", Upstream("h", 5432, "u"), slot="dc_b")
    assert slotted[-2:] == ["--create-slot", "--slot=dc_b"]


def test_promotion_waits_at_least_a_second():
    assert build_promote("/data", 0.2) == ["promote", "-D", "/data", "-w", "-t", "1"]
    assert build_promote("/data", 60)[-1] == "60"


def test_a_failed_rewind_says_why_in_its_last_line():
    stderr = "pg_rewind: servers diverged\npg_rewind: error: could not find common ancestor\n"
    assert failure_reason("", stderr) == "pg_rewind: error: could not find common ancestor"
    assert failure_reason("only stdout\n", "") == "only stdout"
    assert failure_reason("", "") == "(no output)"


# ---- the Debian defaults are made of the same facts and operations -------------------------


def test_the_status_and_replicas_commands_run_the_facts_sql():
    for command, sql in ((debian.STATUS, STATUS_SQL), (debian.REPLICAS, REPLICAS_SQL)):
        assert shlex.split(command) == ["sudo", "-u", "postgres", "psql", "-XAtq", "-c", sql]


def test_controldata_runs_in_the_c_locale_it_is_parsed_in():
    assert shlex.split(debian.CONTROL_DATA) == [
        "LC_ALL=C",
        f"{debian.PG_BIN}/pg_controldata",
        *build_control_data(debian.PG_DATA),
    ]


def _filled(template: str) -> str:
    # As runbooks/_standby.py fills the inventory template's placeholders.
    return (
        template.replace("{upstream}", "10.77.1.11")
        .replace("{port}", "5432")
        .replace("{replication_user}", "replicator")
    )


def test_rewind_and_promote_defaults_run_the_shared_arguments():
    upstream = Upstream("10.77.1.11", 5432, "replicator")
    assert shlex.split(_filled(debian.REWIND)) == [
        *("sudo", "-u", "postgres", f"{debian.PG_BIN}/pg_rewind"),
        *build_rewind(debian.PG_DATA, upstream),
    ]
    assert shlex.split(debian.PROMOTE) == [
        *("sudo", "-u", "postgres", f"{debian.PG_BIN}/pg_ctl"),
        *build_promote(debian.PG_DATA, debian.PROMOTE_WAIT_S),
    ]


def test_base_backup_default_keeps_the_old_cluster_aside_then_copies():
    words = shlex.split(_filled(debian.BASE_BACKUP))
    assert words[:5] == ["sudo", "-u", "postgres", "sh", "-c"]
    script = words[5]
    kept = f"{debian.PG_DATA}.before-rebuild"
    assert script.startswith(f"rm -rf {kept} && ")
    assert f"mv {debian.PG_DATA} {kept}" in script
    backup = script.split(" && ")[-1]
    upstream = Upstream("10.77.1.11", 5432, "replicator")
    assert shlex.split(backup) == [
        f"{debian.PG_BIN}/pg_basebackup",
        *build_base_backup(debian.PG_DATA, upstream),
    ]
