"""What `dr backup run` imports for a real backup (restic 0.14, a SQLite journal).

A backup reaches no device: it must not start by loading the engine and every transport
(paramiko, netmiko, pymodbus), the scheduler or S3's client. Its start is measured against
raw restic (bench/backup_vs_restic.py); this holds the part of it that is what is loaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.support.started_modules import HEAVY, start_dr

pytestmark = pytest.mark.integration


def _inventory(tmp_path: Path) -> Path:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "report.xml").write_text("<report>征信</report>\n")
    (tmp_path / "restic.pass").write_text("restic-Pw-start\n")
    (tmp_path / "restic.pass").chmod(0o600)
    document = {
        "name": "start",
        "environment": "drill",
        "sites": [{"name": "dc", "kind": "datacentre"}],
        "hosts": [{"name": "db-a", "address": "127.0.0.1", "site": "dc"}],
        "backup_sets": [
            {
                "name": "files",
                "host": "db-a",
                "repository": str(tmp_path / "repo"),
                "password": "file:restic.pass",
                "paths": [str(tmp_path / "data")],
            }
        ],
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def test_a_backup_run_imports_its_group_and_no_device_library(tmp_path):
    inventory = str(_inventory(tmp_path))
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    init = start_dr(["backup", "init", "files", "-i", inventory], tmp_path, env)
    assert init.returncode == 0, init.stderr
    backup = start_dr(["backup", "run", "files", "-i", inventory], tmp_path, env)
    assert backup.returncode == 0, backup.stderr
    assert "snapshot" in backup.stdout
    assert backup.loaded("orchestrator.journal", "orchestrator.inventory") == [
        "orchestrator.inventory",
        "orchestrator.journal",
    ]
    assert backup.loaded(*HEAVY, "orchestrator.engine.engine", "orchestrator.incidents") == []
    assert backup.command_modules() == [
        "orchestrator.cli.backup_cmd",
        "orchestrator.cli.find_clean_cmd",
        "orchestrator.cli.rewind_cmd",
    ]
