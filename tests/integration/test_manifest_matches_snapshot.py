"""A backup of a directory that is being written: restic 0.14 and real files, no mocks.

The credit service keeps writing report messages while the backup runs. The manifest
must list exactly what the snapshot holds, files that appeared or changed meanwhile are
recorded as such, and the restore test of such a healthy backup passes every time,
while real damage (a restored file that differs, one missing, one too many, a corrupt
pack) still fails it.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from backups import catalog
from backups import manifest as mf
from backups.actions.init import init_set
from backups.actions.restore_test import restore_test
from backups.actions.run import run_backup
from backups.results import BackupResult
from backups.snapshot_files import as_restic_name, listed_files
from lab.storage_faults import corrupt_pack
from tests.integration.test_backups import RESTIC_PASSWORD, context, write_inventory

pytestmark = pytest.mark.integration

MESSAGE = "LOAN_OPEN|org|{n}|borrower|name|10|id|1000.00|0.05|12|open|branch-1|2026\n"


class ReportWriter(threading.Thread):
    """The credit service at work: new report messages, appends to new and old ones, a
    temporary file renamed into place, an old message removed. Bounded: it stops by
    itself after `seconds`, or sooner when `stop()` is called."""

    def __init__(self, data: Path, round_: int, seconds: float = 30.0) -> None:
        super().__init__(name=f"report-writer-{round_}", daemon=True)
        self.live = data / "live"
        self.old = sorted((data / "messages").rglob("*.txt"))
        self.round, self.seconds = round_, seconds
        self.operations = 0
        self._stopped = threading.Event()

    def run(self) -> None:
        rng = random.Random(self.round)
        self.live.mkdir(exist_ok=True)
        created: list[Path] = []
        end = time.monotonic() + self.seconds
        while time.monotonic() < end and not self._stopped.is_set():
            n = self.operations
            new = self.live / f"R{self.round}-{n:05d}.txt"
            new.write_text(MESSAGE.format(n=n) * rng.randint(1, 20))
            if created:
                with open(rng.choice(created), "a") as handle:
                    handle.write(MESSAGE.format(n=n))
            if n % 3 == 0:
                with open(rng.choice(self.old), "a") as handle:
                    handle.write(MESSAGE.format(n=n))
            if n % 5 == 0:
                staged = self.live / f".R{self.round}-{n:05d}.tmp"
                staged.write_text(MESSAGE.format(n=n) * 3)
                os.replace(staged, self.live / f"R{self.round}-{n:05d}-final.txt")
            if n % 7 == 0 and len(created) > 10:
                created.pop(0).unlink()
            created.append(new)
            self.operations += 1
            time.sleep(0.002)

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def make_reports(data: Path, messages: int, blobs: int, blob_bytes: int) -> None:
    """Report messages in per-day directories, large incompressible files beside them,
    and one message whose name is not UTF-8 (征信 in GBK)."""
    for n in range(messages):
        day = data / "messages" / f"2026-12-{n % 28 + 1:02d}"
        day.mkdir(parents=True, exist_ok=True)
        (day / f"R{n:06d}.txt").write_text(MESSAGE.format(n=n) * 8)
    (data / "blobs").mkdir(parents=True)
    for n in range(blobs):
        (data / "blobs" / f"blob-{n:03d}.bin").write_bytes(os.urandom(blob_bytes))
    gbk = os.fsencode(data / "messages") + b"/\xd5\xf7\xd0\xc5.txt"
    Path(os.fsdecode(gbk)).write_text(MESSAGE.format(n=-1))


@pytest.fixture
def reports(tmp_path, monkeypatch):
    def build(messages: int, blobs: int = 0, blob_bytes: int = 0) -> Path:
        monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
        (tmp_path / "restic.pass").write_text(RESTIC_PASSWORD + "\n")
        make_reports(tmp_path / "data", messages, blobs, blob_bytes)
        inventory = write_inventory(tmp_path, {})
        init_set(context(inventory))
        time.sleep(1.1)  # what was written before is settled by the first backup
        return inventory

    return build


def back_up_while_written(inventory: Path, round_: int) -> tuple[BackupResult, ReportWriter]:
    writer = ReportWriter(inventory.parent / "data", round_)
    writer.start()
    try:
        time.sleep(0.05)  # the service was writing before the backup started
        result = run_backup(context(inventory))
    finally:
        writer.stop()
    return result, writer


def manifest_of(inventory: Path, result: BackupResult) -> mf.Manifest:
    session = context(inventory).session()
    [run] = [r for r in catalog.runs(catalog.set_snapshots(session, "credit"))
             if r.run_id == result.run_id]  # fmt: skip
    return catalog.read_manifest(session, run)


def restic_ls_files(repo: Path, snapshot: str) -> set[str]:
    """The snapshot's regular files, from restic itself; names as dr's walk spells them."""
    done = subprocess.run(
        ["restic", "-r", str(repo), "--password-file", str(repo.parent / "restic.pass"),
         "ls", "--json", "--", snapshot],
        capture_output=True, check=True,
    )  # fmt: skip
    found = set()
    for line in done.stdout.splitlines():
        node = json.loads(line)
        if node.get("type") == "file":
            found.add(node["path"])
    return found


def as_restic_shows(paths: set[str]) -> set[str]:
    # restic's JSON shows bytes that are not UTF-8 as U+FFFD; the GBK name is ours.
    return {as_restic_name(p) for p in paths}


def test_a_directory_written_while_backed_up_passes_its_restore_test_every_time(reports):
    """3,000 files, ~200 MB, three backups and restore tests while the writer runs."""
    inventory = reports(messages=2950, blobs=50, blob_bytes=4 << 20)
    changed_seen = 0

    for round_ in range(3):
        result, writer = back_up_while_written(inventory, round_)

        assert result.status == "ok", result.errors
        assert writer.operations > 0
        manifest = manifest_of(inventory, result)
        assert manifest.format == mf.FORMAT and manifest.files is not None
        entries = manifest.files.files
        snapshot = result.snapshots["files"]
        held = restic_ls_files(inventory.parent / "repo", snapshot)
        assert as_restic_shows({e.path for e in entries}) == held  # exactly the snapshot
        changed = [e for e in entries if e.changed_during_backup]
        assert changed, "the writer ran during the backup: some files changed"
        assert len(entries) >= 3000
        if round_ == 0:  # the fallback listing (restic ls) says the same
            listed = listed_files(context(inventory).session(), snapshot)
            assert set(listed.files) == held

        record = restore_test(context(inventory))

        assert record.outcome == "passed", record.cause
        assert record.run_id == result.run_id
        files = record.files
        assert files["expected"] == len(entries)
        moved = files["changed_while_backed_up"]["count"]
        assert files["verified"] + moved == files["expected"]
        assert files["verified"] >= len(entries) - len(changed)
        assert files["vanished_while_backed_up"] == len(manifest.files.vanished)
        changed_seen += len(changed)
    assert changed_seen >= 3


TAMPERING_RESTIC = """#!{python}
# Real restic; after a restore, damage that restic cannot see: bytes that rot on the
# way to the scratch directory, a file lost, a file smuggled in.
import os, subprocess, sys

done = subprocess.run([{restic!r}, *sys.argv[1:]])
args = sys.argv[1:]
if "restore" in args and done.returncode == 0:
    target = args[args.index("--target") + 1]
    with open(target + {flip!r}, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))
    os.unlink(target + {remove!r})
    with open(target + {add!r}, "w") as handle:
        handle.write("smuggled in\\n")
sys.exit(done.returncode)
"""


def test_real_damage_still_fails_the_restore_test_of_a_backup_taken_while_written(
    reports, tmp_path, monkeypatch
):
    inventory = reports(messages=300)
    result, _ = back_up_while_written(inventory, 0)
    assert result.status == "ok", result.errors
    entries = manifest_of(inventory, result).files.files
    settled = next(e.path for e in entries if not e.changed_during_backup and e.size)
    changed = next(e.path for e in entries if e.changed_during_backup)
    smuggled = str(tmp_path / "data" / "messages" / "smuggled.txt")
    wrapper = tmp_path / "tampering-restic"
    wrapper.write_text(
        TAMPERING_RESTIC.format(
            python=sys.executable,
            restic=shutil.which("restic"),
            flip=settled,
            remove=changed,
            add=smuggled,
        )
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("DR_RESTIC", str(wrapper))

    record = restore_test(context(inventory))

    assert record.outcome == "failed"
    assert f"1 file(s) missing from the restore: {changed}" in record.problems
    [other] = [p for p in record.problems if "other content" in p]
    assert other.startswith(
        f"1 file(s) restored with other content than the manifest records: {settled} ("
    )
    assert f"1 file(s) restored but not in the manifest: {smuggled}" in record.problems
    assert len(record.problems) == 3, record.problems


def test_a_corrupt_pack_still_fails_the_restore_test_of_a_backup_taken_while_written(
    reports, tmp_path
):
    inventory = reports(messages=300, blobs=4, blob_bytes=2 << 20)
    result, _ = back_up_while_written(inventory, 0)
    assert result.status == "ok", result.errors
    corrupt_pack(tmp_path / "repo", seed=7, record=tmp_path / "corruption.json")

    record = restore_test(context(inventory))

    assert record.outcome == "failed"
    assert "ciphertext verification failed" in record.cause, record.cause
