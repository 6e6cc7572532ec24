"""What `dr` writes for itself is owner-only and written whole (issue 17, item 6)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backups.hash_cache import HashCache
from orchestrator.journal import Journal
from orchestrator.private_files import write_atomically
from orchestrator.reports.blocks import Document
from orchestrator.reports.i18n import ReportLang
from orchestrator.reports.render import write_report


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The umask of an interactive shell outside systemd."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_journal_and_its_state_directory_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    from orchestrator.journal import default_journal_url

    journal = Journal(default_journal_url())
    try:
        journal.append("test.event", data={"x": 1})
        database = tmp_path / "state" / "dr" / "journal.sqlite3"
        assert mode(database.parent) == 0o700
        assert mode(database.parent.parent) == 0o700  # made by us, too
        assert mode(database) == 0o600
        wal = database.with_name(database.name + "-wal")
        assert wal.exists() and mode(wal) == 0o600
    finally:
        journal.close()


def no_layout(data: dict[str, Any], lang: ReportLang) -> Document:
    raise AssertionError("JSON needs no layout")


def test_reports_are_owner_only_and_replace_the_old_one_whole(tmp_path: Path) -> None:
    output = tmp_path / "out" / "report.json"
    write_report({"a": 1}, no_layout, "json", "en", output)
    assert mode(output) == 0o600 and mode(output.parent) == 0o700
    assert '"a": 1' in output.read_text()
    assert [p.name for p in output.parent.iterdir()] == ["report.json"]


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cache.json"
    write_atomically(target, "old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_atomically(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["cache.json"]


def test_the_hash_cache_and_its_directories_are_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    cache = HashCache.for_set("credit", "/srv/restic/credit")
    source = tmp_path / "f"
    source.write_text("x")
    cache.remember(str(source), source.stat(), 1, "digest")
    cache.stage()
    cache.commit()
    assert cache.path is not None
    assert mode(cache.path) == 0o600
    assert mode(cache.path.parent) == 0o700 and mode(cache.path.parent.parent) == 0o700


def test_a_scratch_place_that_cannot_be_removed_is_named_for_the_operator(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import shutil

    from backups.restore import scratch_pg

    real_rmtree = shutil.rmtree
    kept: list[Path] = []

    def failing_rmtree(path: Path, onerror: Any = None, **_: Any) -> None:
        kept.append(Path(path))
        onerror(
            os.unlink,
            str(Path(path) / "files" / "pg_dump.out"),
            (OSError, OSError(16, "busy"), None),
        )

    monkeypatch.setattr(scratch_pg.shutil, "rmtree", failing_rmtree)
    with scratch_pg.scratch_dir() as root:
        (root / "files" / "pg_dump.out").write_text("restored production rows")
    try:
        assert kept == [root]
        [record] = [r for r in caplog.records if r.levelname == "ERROR"]
        assert str(root) in record.getMessage() and "production data" in record.getMessage()
    finally:
        real_rmtree(root)
