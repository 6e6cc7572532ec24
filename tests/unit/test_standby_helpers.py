"""The pure parts of the switchover / rebuild helpers: WAL positions, pg_controldata,
.pgpass lines. The rest of runbooks/_standby.py runs on the lab (integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.errors import InventoryError, StepFailed
from orchestrator.inventory import load_inventory
from runbooks._standby import lsn, parse_control_data, pgpass_line

ROOT = Path(__file__).resolve().parents[2]
CONTROLDATA = """\
pg_control version number:            1300
Database cluster state:               shut down
Latest checkpoint location:           0/3754450
Latest checkpoint's REDO location:    0/3754450
Latest checkpoint's TimeLineID:       1
"""


def test_lsn_orders_positions_across_the_slash():
    assert lsn("0/FFFFFFFF") < lsn("1/0")
    assert lsn("0/37544C8") > lsn("0/3754450")
    assert lsn("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert lsn(None) is None


def test_lsn_refuses_text_that_is_not_a_position():
    with pytest.raises(StepFailed, match="not a PostgreSQL WAL position"):
        lsn("3754450")


def test_controldata_gives_state_and_shutdown_checkpoint():
    parsed = parse_control_data(CONTROLDATA)
    assert parsed is not None
    assert parsed.shut_down_cleanly
    assert parsed.checkpoint_lsn == "0/3754450"


def test_a_standby_stop_or_a_crash_is_not_a_clean_primary_shutdown():
    for state in ("shut down in recovery", "in production"):
        parsed = parse_control_data(CONTROLDATA.replace("shut down", state, 1))
        assert parsed is not None and not parsed.shut_down_cleanly
    assert parse_control_data("pg_controldata: error: could not open file") is None


def test_pgpass_line_escapes_colons_and_backslashes_in_the_password():
    line = pgpass_line("10.77.1.12", 5432, "replicator", r"a:b\c")
    assert line == "10.77.1.12:5432:*:replicator:a\\:b\\\\c\n"


def test_replication_addresses_must_name_the_pairs_own_hosts(tmp_path):
    text = (ROOT / "inventory" / "lab.yaml").read_text()
    assert "      dc-b: 10.77.1.12\n" in text
    bad = tmp_path / "inventory.yaml"
    bad.write_text(text.replace("      dc-b: 10.77.1.12\n", "      dc-c: 10.77.1.12\n"))
    with pytest.raises(InventoryError) as raised:
        load_inventory(bad)
    assert "replication_addresses.dc-c: 'dc-c' is not a host of this pair" in str(raised.value)
