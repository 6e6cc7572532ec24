"""A restore is checked with the hash algorithm its manifest names: restic 0.14,
PostgreSQL 15, real files, no mocks.

New manifests (format 3) hash every file and every dump with BLAKE3 and say so.
Manifests already in repositories (format 2) hold SHA-256 without naming it, and are
still checked with SHA-256. Either way, a restored file whose bytes differ from what
was backed up fails the restore test.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import blake3
import pytest

from backups import catalog
from backups import manifest as mf
from backups.actions.init import init_set
from backups.actions.restore_test import restore_test
from backups.actions.run import run_backup
from backups.results import BackupResult
from tests.integration.test_backups import (  # noqa: F401 (two of them are fixtures)
    context,
    credit_db,
    env,
    write_inventory,
)

pytestmark = pytest.mark.integration

FLIPPING_RESTIC = """#!{python}
# Real restic; after a restore, one byte of one restored file flipped on its way to the
# scratch directory: damage that restic cannot see, only the manifest's hash can.
import subprocess, sys

done = subprocess.run([{restic!r}, *sys.argv[1:]])
args = sys.argv[1:]
if "restore" in args and done.returncode == 0:
    with open(args[args.index("--target") + 1] + {flip!r}, "r+b") as handle:
        first = handle.read(1)
        handle.seek(0)
        handle.write(bytes([first[0] ^ 0xFF]))
sys.exit(done.returncode)
"""


@pytest.fixture
def backed_up(request, tmp_path) -> tuple[Path, BackupResult]:
    """A set of files and one database (test_backups' fixtures `env` and `credit_db`),
    backed up once by today's dr."""
    request.getfixturevalue("env")
    block, url = request.getfixturevalue("credit_db")
    inventory = write_inventory(
        tmp_path, {"databases": [{"name": url.database, "host_pair": "credit"}]}, db=block
    )
    init_set(context(inventory))
    result = run_backup(context(inventory))
    assert result.status == "ok", result.errors
    return inventory, result


def the_run(inventory: Path, result: BackupResult) -> catalog.BackupRun:
    session = context(inventory).session()
    [run] = [r for r in catalog.runs(catalog.set_snapshots(session, "credit"))
             if r.run_id == result.run_id]  # fmt: skip
    return run


def restic_dump(repo: Path, snapshot: str, path: str) -> bytes:
    """A stored file's bytes, from restic itself."""
    return subprocess.run(
        ["restic", "-r", str(repo), "--password-file", str(repo.parent / "restic.pass"),
         "dump", snapshot, path],
        capture_output=True, check=True,
    ).stdout  # fmt: skip


def flip_a_byte_after_restore(tmp_path: Path, path: str, monkeypatch: Any) -> None:
    wrapper = tmp_path / "flipping-restic"
    wrapper.write_text(
        FLIPPING_RESTIC.format(python=sys.executable, restic=shutil.which("restic"), flip=path)
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("DR_RESTIC", str(wrapper))


def as_format_2(manifest: mf.Manifest, repo: Path) -> bytes:
    """`manifest` as dr wrote it before format 3: the same document, its hashes SHA-256
    (of the files on disk, and of the dump as restic returns it) under the names
    `sha256` and `dump_sha256`, and no algorithm named."""
    document = json.loads(manifest.to_json())
    del document["hash_algorithm"]
    document["format"] = "dr-backup-manifest/2"
    for entry in document["files"]["files"]:
        del entry["digest"]
        entry["sha256"] = hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest()
    for database in document["databases"]:
        del database["dump_digest"]
        dump = restic_dump(repo, database["snapshot_id"], database["filename"])
        database["dump_sha256"] = hashlib.sha256(dump).hexdigest()
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def replace_manifest(inventory: Path, run: catalog.BackupRun, data: bytes) -> None:
    """Store `data` as the run's manifest, in place of the one dr wrote: same tags, host
    and time, through the same call that stores manifests."""
    assert run.manifest is not None
    session = context(inventory).session()
    old = run.manifest
    session.backup_bytes(data, mf.FILENAME, tags=list(old.tags), host=old.hostname, at=old.time)
    session.forget_ids([old.id])


def test_a_new_manifest_names_blake3_and_a_flipped_byte_fails_the_restore_test(
    backed_up, tmp_path, monkeypatch
):
    inventory, result = backed_up
    run = the_run(inventory, result)
    assert run.manifest is not None
    stored = restic_dump(tmp_path / "repo", run.manifest.id, mf.PATH_IN_SNAPSHOT)
    document = json.loads(stored)
    assert document["format"] == "dr-backup-manifest/3"
    assert document["hash_algorithm"] == "blake3"
    for entry in document["files"]["files"]:
        assert entry["digest"] == blake3.blake3(Path(entry["path"]).read_bytes()).hexdigest()
        assert "sha256" not in entry
    [database] = document["databases"]
    dump = restic_dump(tmp_path / "repo", database["snapshot_id"], database["filename"])
    assert database["dump_digest"] == blake3.blake3(dump).hexdigest()
    assert database["dump_bytes"] == len(dump)

    good = restore_test(context(inventory))
    assert good.outcome == "passed", good.cause
    assert good.files["verified"] == good.files["expected"] == 2
    assert good.databases[0]["tables_verified"] == 2

    blob = str(tmp_path / "data" / "sub" / "blob.bin")
    flip_a_byte_after_restore(tmp_path, blob, monkeypatch)
    damaged = restore_test(context(inventory))

    assert damaged.outcome == "failed"
    [problem] = damaged.problems
    assert problem.startswith(
        f"1 file(s) restored with other content than the manifest records: {blob} "
        f"(manifest: 50000 bytes BLAKE3 "
    ), problem


def test_a_format_2_sha256_manifest_from_before_still_verifies_and_finds_damage(
    backed_up, tmp_path, monkeypatch
):
    inventory, result = backed_up
    run = the_run(inventory, result)
    written = catalog.read_manifest(context(inventory).session(), run)
    replace_manifest(inventory, run, as_format_2(written, tmp_path / "repo"))

    old = catalog.read_manifest(context(inventory).session(), the_run(inventory, result))
    assert old.format == "dr-backup-manifest/2" and old.hash_algorithm == "sha256"
    assert old.files is not None and old.files.hash_algorithm == "sha256"
    # The same files and tables; only the hashes differ, being of another algorithm.
    plain = dataclasses.replace(old.files, files=[], hash_algorithm="blake3")
    assert written.files is not None
    assert plain == dataclasses.replace(written.files, files=[])
    assert [e.path for e in old.files.files] == [e.path for e in written.files.files]
    assert all(
        a.digest != b.digest and len(a.digest or "") == 64
        for a, b in zip(old.files.files, written.files.files, strict=True)
    )

    record = restore_test(context(inventory))

    assert record.outcome == "passed", record.cause
    assert record.run_id == result.run_id
    assert record.files["verified"] == record.files["expected"] == 2
    [database] = record.databases
    assert database["tables_verified"] == 2 and database["problems"] == []

    report = str(tmp_path / "data" / "report.xml")
    flip_a_byte_after_restore(tmp_path, report, monkeypatch)
    damaged = restore_test(context(inventory))

    assert damaged.outcome == "failed"
    [problem] = damaged.problems
    data = Path(report).read_bytes()
    assert problem.startswith(
        f"1 file(s) restored with other content than the manifest records: {report} "
        f"(manifest: {len(data)} bytes SHA-256 {hashlib.sha256(data).hexdigest()[:12]}, "
    ), problem
