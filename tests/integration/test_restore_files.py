"""A system of files (the report-message archive) put back from its newest good run,
as site-loss does: real restic 0.14, a local repository, ~2,000 files. The files land
under `into` at their original paths and are checked against the run's manifest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from backups.actions.init import init_set
from backups.actions.restore_files import restore_newest_files
from backups.actions.run import run_backup
from lab.storage_faults import corrupt_pack
from orchestrator.errors import RestoreFailed
from tests.integration.test_backups import RESTIC_PASSWORD, context
from tests.integration.test_backups import write_inventory as write_base

pytestmark = pytest.mark.integration

FILES = 2000


@pytest.fixture
def messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    (tmp_path / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
    data = tmp_path / "data"
    for number in range(FILES):
        folder = data / f"2026-12-{1 + number % 28:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"msg-{number:05d}.xml").write_bytes(os.urandom(512 + number % 4096))
    return data


def test_the_newest_run_comes_back_whole_under_into(tmp_path: Path, messages: Path) -> None:
    inventory = write_base(tmp_path, {})
    init_set(context(inventory))
    run_backup(context(inventory))
    newest = messages / "2026-12-01" / "late.xml"
    newest.write_text("<report>后补报文</report>\n")
    run_backup(context(inventory))

    into = tmp_path / "recovered"
    document = restore_newest_files(context(inventory), into)

    assert document["expected"] == FILES + 1
    assert document["verified"] == FILES + 1
    assert document["problems"] == []
    restored = into / newest.relative_to("/")
    assert restored.read_text() == newest.read_text()


def test_a_damaged_repository_fails_with_its_cause(tmp_path: Path, messages: Path) -> None:
    inventory = write_base(tmp_path, {})
    init_set(context(inventory))
    run_backup(context(inventory))
    corrupt_pack(tmp_path / "repo", seed=3, record=tmp_path / "corruption.json")

    with pytest.raises(RestoreFailed, match="ciphertext verification failed"):
        restore_newest_files(context(inventory), tmp_path / "recovered")
