"""The pure parts of the switchover / rebuild helpers (runbooks/_standby.py): a pair's
control commands, filled in for the primary to follow. What the commands print is read
by orchestrator/postgresql (tests/unit/test_postgresql_facts.py); the rest runs on the
lab (integration)."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory
from orchestrator.postgresql import debian_commands as debian
from orchestrator.postgresql.replication import Upstream
from orchestrator.postgresql.rewind import build_rewind
from runbooks._dual_host import control
from runbooks._standby import follow_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def production_pair(tmp_path):
    """The lab's pair with the inventory's default (Debian) control commands."""
    data = yaml.safe_load((ROOT / "inventory" / "lab.yaml").read_text())
    del data["host_pairs"][0]["control"]
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    inventory = load_inventory(path)
    return inventory, inventory.host_pairs[0]


def test_a_pair_without_control_commands_gets_the_debian_defaults(production_pair):
    inventory, pair = production_pair
    host = inventory.host(pair.primary)
    assert control(pair, "db_status", host) == debian.STATUS
    assert control(pair, "db_replicas", host) == debian.REPLICAS
    assert control(pair, "db_controldata", host) == debian.CONTROL_DATA
    assert control(pair, "db_promote", host) == debian.PROMOTE
    assert control(pair, "db_rewind", host) == debian.REWIND
    assert control(pair, "db_base_backup", host) == debian.BASE_BACKUP
    # Every database field of the inventory's control block has its default.
    database_fields = {f for f in type(pair.control).model_fields if f.startswith("db_")}
    assert database_fields == set(debian.DEFAULTS)


def test_rewind_follows_the_upstreams_replication_address(production_pair):
    inventory, pair = production_pair
    command = follow_command(pair, "db_rewind", inventory.host("dc-b"), inventory.host("dc-a"))
    # dc-a's database on the data-centre LAN, not its management address.
    upstream = Upstream("10.77.1.11", 5432, "replicator")
    assert shlex.split(command)[4:] == build_rewind(debian.PG_DATA, upstream)


def test_replication_addresses_must_name_the_pairs_own_hosts(tmp_path):
    text = (ROOT / "inventory" / "lab.yaml").read_text()
    assert "      dc-b: 10.77.1.12\n" in text
    bad = tmp_path / "inventory.yaml"
    bad.write_text(text.replace("      dc-b: 10.77.1.12\n", "      dc-c: 10.77.1.12\n"))
    with pytest.raises(InventoryError) as raised:
        load_inventory(bad)
    assert "replication_addresses.dc-c: 'dc-c' is not a host of this pair" in str(raised.value)
