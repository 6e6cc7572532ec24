"""A postgres-pitr set's `clusters:`: where its cluster lives on each host. The pair's
hosts become pg1, pg2 in pgBackRest's configuration (backups find the primary after a
failover); another host's cluster is a restore target only; each host's archive_command
names its own data directory. Without `clusters:` nothing changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from backups.pgbackrest.config import render_config
from backups.pgbackrest.features import Version
from backups.pitr.settings import archived_clusters, server_settings, stanza_settings
from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory, PitrBackupSet, load_inventory

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory" / "example-production.yaml"
V245 = Version(2, 45)
PROGRAM = "/usr/bin/pgbackrest"
CLUSTERS: list[dict[str, Any]] = [
    {"host": "credit-a", "path": "/srv/pg/a/data", "socket_path": "/srv/pg/a/run"},
    {"host": "backup-1", "path": "/srv/pg/restore/data", "socket_path": "/srv/pg/restore/run"},
    {"host": "credit-b", "path": "/srv/pg/b/data", "socket_path": "/srv/pg/b/run", "port": 5433},
]


def _inventory(tmp_path: Path, clusters: list[dict[str, Any]] | None) -> Path:
    document = yaml.safe_load(EXAMPLE.read_text())
    [pitr] = [s for s in document["backup_sets"] if s.get("kind") == "postgres-pitr"]
    if clusters is not None:
        pitr["clusters"] = clusters
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
    return path


def _loaded(
    tmp_path: Path, clusters: list[dict[str, Any]] | None
) -> tuple[Inventory, PitrBackupSet]:
    inventory = load_inventory(_inventory(tmp_path, clusters))
    return inventory, inventory.pitr_sets[0]


def _stanza_section(text: str) -> list[str]:
    return text.split("[credit]\n", 1)[1].splitlines()


def test_the_pair_hosts_clusters_are_pg1_and_pg2_and_the_backup_rooms_is_not_rendered(
    tmp_path: Path,
) -> None:
    inventory, bset = _loaded(tmp_path, CLUSTERS)
    assert [c.host for c in archived_clusters(inventory, bset)] == ["credit-a", "credit-b"]
    text = render_config(stanza_settings(inventory, bset), V245)
    assert _stanza_section(text) == [
        "pg1-path=/srv/pg/a/data",
        "pg1-port=5432",  # the pair's database port
        "pg1-socket-path=/srv/pg/a/run",
        "pg1-user=postgres",
        "pg2-path=/srv/pg/b/data",
        "pg2-port=5433",  # its own
        "pg2-socket-path=/srv/pg/b/run",
        "pg2-user=postgres",
    ]
    assert "/srv/pg/restore" not in text


def test_cluster_on_finds_the_restore_target_and_knows_no_other_host(tmp_path: Path) -> None:
    _, bset = _loaded(tmp_path, CLUSTERS)
    target = bset.cluster_on("backup-1")
    assert target is not None
    assert (target.path, target.socket_path, target.port) == (
        "/srv/pg/restore/data", "/srv/pg/restore/run", None,
    )  # fmt: skip
    assert bset.cluster_on("report-gw") is None


def test_each_hosts_archive_command_names_its_own_data_directory(tmp_path: Path) -> None:
    inventory, bset = _loaded(tmp_path, CLUSTERS)
    on_pg1 = server_settings(inventory, bset, PROGRAM, "credit-a")["archive_command"]
    on_pg2 = server_settings(inventory, bset, PROGRAM, "credit-b")["archive_command"]
    on_backup = server_settings(inventory, bset, PROGRAM, "backup-1")["archive_command"]
    assert "--pg1-path" not in on_pg1  # pg1's own path is the configured one
    assert "--pg1-path=/srv/pg/b/data archive-push %p" in on_pg2
    assert "--pg1-path=/srv/pg/restore/data archive-push %p" in on_backup
    with pytest.raises(UserInputError, match="no cluster on host 'report-gw'"):
        server_settings(inventory, bset, PROGRAM, "report-gw")


def test_without_clusters_pg_path_is_pg1_everywhere_as_before(tmp_path: Path) -> None:
    inventory, bset = _loaded(tmp_path, None)
    text = render_config(stanza_settings(inventory, bset), V245)
    assert _stanza_section(text) == [
        "pg1-path=/var/lib/postgresql/15/main",
        "pg1-port=5432",
        "pg1-socket-path=/var/run/postgresql",
        "pg1-user=postgres",
    ]
    anywhere = bset.cluster_on("backup-1")
    assert anywhere is not None and anywhere.path == "/var/lib/postgresql/15/main"
    assert server_settings(inventory, bset, PROGRAM, "credit-b") == server_settings(
        inventory, bset, PROGRAM
    )


@pytest.mark.parametrize(
    ("clusters", "message"),
    [
        (
            [*CLUSTERS, {"host": "credit-a", "path": "/x", "socket_path": "/y"}],
            "host(s) credit-a listed twice",
        ),
        (
            [{"host": "no-such-host", "path": "/x", "socket_path": "/y"}],
            "no host named 'no-such-host'",
        ),
        (
            [{"host": "backup-1", "path": "/x", "socket_path": "/y"}],
            "no cluster on a host of pair 'credit' (credit-a or credit-b)",
        ),
        ([{"host": "credit-a", "path": "relative", "socket_path": "/y"}], "absolute"),
    ],
)
def test_clusters_are_checked_with_the_line_they_are_on(
    tmp_path: Path, clusters: list[dict[str, Any]], message: str
) -> None:
    with pytest.raises(UserInputError) as raised:
        load_inventory(_inventory(tmp_path, clusters))
    assert message in raised.value.message
    assert "inventory.yaml:" in raised.value.message  # FILE:LINE: field: message
