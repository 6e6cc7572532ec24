"""The inventory's `journal:` section: one place per anchor, and a backup host that exists."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.errors import InventoryError
from orchestrator.inventory import load_inventory
from orchestrator.scheduler.daemon import job_specs

DATA = Path(__file__).parent.parent / "data"


def _with_journal(tmp_path: Path, journal: dict) -> Path:
    document = yaml.safe_load((DATA / "engine-drill.yaml").read_text())
    document["journal"] = journal
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def test_a_journal_section_names_key_anchors_and_their_schedule(tmp_path):
    path = _with_journal(
        tmp_path,
        {
            "key": "file:keys/journal.key",
            "anchor_every": "30m",
            "anchors": [
                {"ssh_file": {"host": "br-1", "path": "/var/lib/dr-anchors/journal.jsonl"}},
                {"notify": {"roles": ["leadership"]}},
            ],
        },
    )
    inventory = load_inventory(path)
    assert str(inventory.journal.key) == f"file:{tmp_path / 'keys/journal.key'}"
    assert [a.kind for a in inventory.journal.anchors] == ["ssh_file", "notify"]
    [spec] = [s for s in job_specs(inventory) if s.id == "anchor-journal"]
    assert spec.trigger.interval.total_seconds() == 1800


def test_an_anchor_on_an_unknown_host_is_refused_with_its_line(tmp_path):
    path = _with_journal(tmp_path, {"anchors": [{"ssh_file": {"host": "backup-9", "path": "/a"}}]})
    with pytest.raises(
        InventoryError,
        match=r"inventory\.yaml:\d+: journal\.anchors\[0\]\.ssh_file\.host: no host named",
    ):
        load_inventory(path)


def test_an_anchor_names_exactly_one_place_and_no_secret_in_clear(tmp_path):
    both = {"ssh_file": {"host": "br-1", "path": "/a"}, "notify": {"roles": ["duty"]}}
    with pytest.raises(InventoryError, match="exactly one place"):
        load_inventory(_with_journal(tmp_path, {"anchors": [both]}))
    with pytest.raises(InventoryError, match="reference"):
        load_inventory(_with_journal(tmp_path, {"key": "00112233445566778899aabbccddeeff"}))


def test_no_anchors_means_no_anchor_job(tmp_path):
    inventory = load_inventory(_with_journal(tmp_path, {}))
    assert "anchor-journal" not in {s.id for s in job_specs(inventory)}


def test_an_anchor_notice_to_a_role_nobody_holds_is_refused(tmp_path):
    path = _with_journal(tmp_path, {"anchors": [{"notify": {"roles": ["auditors"]}}]})
    with pytest.raises(
        InventoryError,
        match=r"journal\.anchors\[0\]\.notify\.roles\[0\]: no contact holds role 'auditors'",
    ):
        load_inventory(path)


def test_the_example_inventory_anchors_in_all_three_places():
    example = Path(__file__).parents[2] / "inventory" / "example-production.yaml"
    inventory = load_inventory(example)
    assert str(inventory.journal.key) == "file:/etc/dr/journal.key"
    assert [a.kind for a in inventory.journal.anchors] == ["s3", "ssh_file", "notify"]
    holders = {c.role for c in inventory.contacts}
    [notify] = [a.notify for a in inventory.journal.anchors if a.notify is not None]
    assert set(notify.roles) <= holders
    [spec] = [s for s in job_specs(inventory) if s.id == "anchor-journal"]
    assert spec.trigger.interval.total_seconds() == 3600
