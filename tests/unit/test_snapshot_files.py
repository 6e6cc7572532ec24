"""The manifest lists what the snapshot holds: restic's own list, reconciled with dr's hashes.

Output captured from real runs of restic 0.14.0 (as tests/data/restic-0.14/README.md):
- `backup-verbose.stdout`: `restic backup --json -v --host h data`, the second backup of
  data/ after appending to a.txt and adding sub/new.txt (c.txt and sub/b.txt unchanged,
  data/link a symlink)
- `backup-vanished.*`: `restic backup --json -v /tmp/rv/src` of 20,000 files while
  another process removed every second one (exit code 3); cut to a few of its lines
- `ls.stdout`: `restic ls --json -- latest` after the backup of `backup-verbose.stdout`
The reconciling itself runs on real files in a temporary directory.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import blake3
import pytest

from backups import manifest as mf
from backups.hash_cache import now_ns
from backups.restic.backup import BackupOutput, build_backup, is_progress, parse_error
from backups.restic.ls import build_ls, listed_file
from backups.snapshot_files import StoredFiles, as_restic_name, reconcile

DATA = Path(__file__).parent.parent / "data" / "restic-0.14"


def lines(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text().splitlines() if line[:1] == "{"]


def test_a_backup_of_paths_asks_restic_to_name_each_file_it_stores():
    assert "-v" in build_backup(paths=["/srv/reports"], tags=[], host="h")
    assert "-v" not in build_backup(stdin_filename="db.pgdump", tags=[], host="h")


def test_restic_014_names_every_stored_file_but_no_directory_or_symlink():
    stored, output = StoredFiles(), BackupOutput()
    for message in lines("backup-verbose.stdout"):
        stored.take(message)
        output.take(message)

    # Relative paths appear as they are in the snapshot; none of these exist here.
    assert stored.files == dict.fromkeys(
        ["/data/c.txt", "/data/sub/b.txt", "/data/a.txt", "/data/sub/new.txt"]
    )
    assert output.summary is not None and stored.complete(output.summary)
    # -v adds a "status" line that is not progress: it must not reset the progress.
    [scan_finished] = [
        m for m in lines("backup-verbose.stdout") if m.get("action") == "scan_finished"
    ]
    assert scan_finished["message_type"] == "status" and not is_progress(scan_finished)
    assert output.last_status is not None and output.last_status.total_bytes == 31


def test_restic_ls_lists_the_same_files_as_the_backup_named():
    listed = [p for p in map(listed_file, lines("ls.stdout")) if p is not None]
    assert sorted(listed) == ["/data/a.txt", "/data/c.txt", "/data/sub/b.txt", "/data/sub/new.txt"]
    assert build_ls("7ffae38e")[-2:] == ["--", "7ffae38e"]


def test_files_gone_before_restic_came_are_vanished_not_unreadable():
    output = BackupOutput()
    for message in lines("backup-vanished.stdout") + lines("backup-vanished.stderr"):
        output.take(message)

    assert [e.vanished for e in output.errors] == [True] * 4
    assert output.errors[2].item == "/tmp/rv/src/f01218" and output.errors[2].during == "archival"
    # restic counted 9,354 such errors and these lines keep 2: we cannot vouch for the rest.
    assert not output.errors_all_named()
    # Later versions give Go's text instead of the error's fields.
    later = parse_error(
        {"message_type": "error", "error": {"message": "lstat /x: no such file or directory"},
         "during": "archival", "item": "/x"}
    )  # fmt: skip
    denied = parse_error(
        {"message_type": "error", "error": {"Op": "open", "Path": "/y", "Err": 13},
         "during": "archival", "item": "/y"}
    )  # fmt: skip
    assert later.vanished and not denied.vanished


@pytest.fixture
def settled(tmp_path: Path) -> Path:
    """A directory of files last changed more than a second before the backup starts."""
    root = tmp_path / "reports"
    root.mkdir()
    for name in ("old.txt", "appended.txt", "removed.txt", "replaced.txt"):
        (root / name).write_text(f"{name}\n")
    time.sleep(1.1)
    return root


def stored_now(root: Path, *names: str) -> StoredFiles:
    """restic's list, as if it named `names` now."""
    stored = StoredFiles()
    for name in names:
        stored.take({"message_type": "verbose_status", "action": "new", "item": str(root / name)})
    return stored


def test_only_a_file_unchanged_through_both_reads_keeps_a_hash_the_restore_must_match(settled):
    started = now_ns()
    hashed = mf.hash_tree([str(settled)])
    # While the backup runs, before restic reaches them:
    with open(settled / "appended.txt", "a") as handle:
        handle.write("more\n")
    (settled / "removed.txt").unlink()
    (settled / "created.txt").write_text("new report\n")
    (settled / "replaced.txt.tmp").write_text("replaced.txt, second version\n")
    os.replace(settled / "replaced.txt.tmp", settled / "replaced.txt")
    stored = stored_now(settled, "old.txt", "appended.txt", "created.txt", "replaced.txt")

    found = reconcile(hashed, stored, started_ns=started, gone=[str(settled / "gone.tmp")])

    by_name = {Path(e.path).name: e for e in found.entries}
    assert list(by_name) == ["appended.txt", "created.txt", "old.txt", "replaced.txt"]
    assert not by_name["old.txt"].changed_during_backup and by_name["old.txt"].digest
    for name in ("appended.txt", "created.txt", "replaced.txt"):
        assert by_name[name].changed_during_backup, name
    # What dr saw is kept: its hash (of the old version) and, for the new file, its size.
    assert by_name["appended.txt"].digest is not None
    assert by_name["created.txt"].digest is None and by_name["created.txt"].size == 11
    assert found.vanished == sorted([str(settled / "gone.tmp"), str(settled / "removed.txt")])
    assert found.unreadable == [] and found.changed == 3


def test_a_file_changed_just_before_the_backup_is_not_vouched_for(settled):
    (settled / "old.txt").write_text("rewritten within the clock's margin\n")
    started = now_ns()
    hashed = mf.hash_tree([str(settled)])
    names = ("old.txt", "appended.txt", "removed.txt", "replaced.txt")

    found = reconcile(hashed, stored_now(settled, *names), started_ns=started)

    assert [Path(e.path).name for e in found.entries if e.changed_during_backup] == ["old.txt"]


def test_a_file_written_while_dr_reads_it_has_no_hash(settled, monkeypatch):
    target = settled / "appended.txt"
    hash_file = mf.digests.hash_file

    def append_while_reading(handle, algorithm, buffer):
        result = hash_file(handle, algorithm, buffer)
        if handle.name == str(target):
            with open(target, "a") as other:
                other.write("written during the read\n")
        return result

    monkeypatch.setattr(mf.digests, "hash_file", append_while_reading)
    [hashed] = [h for h in mf.hash_tree([str(settled)]) if h.path == str(target)]
    assert not hashed.steady and hashed.digest is None


def test_a_name_that_is_not_utf8_is_matched_as_restic_shows_it(tmp_path):
    root = tmp_path / "reports"
    root.mkdir()
    raw = os.fsencode(root) + b"/\xd5\xf7\xd0\xc5.txt"  # 征信 in GBK
    Path(os.fsdecode(raw)).write_text("gbk name\n")
    # restic 0.14's `item` for that file, copied from a real run's output:
    shown = str(root) + "/\ufffd\ufffd\ufffd\ufffd.txt"
    assert as_restic_name(os.fsdecode(raw)) == shown
    assert (
        as_restic_name(os.fsdecode(b"/a\xe4\xb8Ab\xf0\x9f\x98.txt"))
        == "/a\ufffd\ufffdAb\ufffd\ufffd\ufffd.txt"
    )
    stored = StoredFiles()
    stored.take({"message_type": "verbose_status", "action": "new", "item": shown})

    found = reconcile(mf.hash_tree([str(root)]), stored, started_ns=now_ns())

    [entry] = found.entries
    assert entry.path == os.fsdecode(raw) and found.vanished == []
    manifest = mf.Manifest(
        "r", "s", "h", "t0", "t1", "ok", "0.14.0",
        mf.FilesPart("abc", [str(root)], "ok", files=found.entries), [],
    )  # fmt: skip
    assert mf.manifest_from_json(manifest.to_json()).files.files[0].path == entry.path


def test_manifests_of_format_1_read_as_sha256_and_format_3_names_its_algorithm():
    old = {
        "format": "dr-backup-manifest/1", "run_id": "r", "backup_set": "s", "host": "h",
        "started_at": "t0", "finished_at": "t1", "status": "ok", "restic_version": "0.14.0",
        "databases": [],
        "files": {"snapshot_id": "abc", "paths": ["/d"], "status": "ok", "unreadable": [],
                  "error": None, "kind": "files",
                  "files": [{"path": "/d/a", "size": 3, "sha256": "ff", "mtime": 1.5}]},
    }  # fmt: skip
    read = mf.manifest_from_json(json.dumps(old).encode())
    assert read.format == "dr-backup-manifest/1" and read.files is not None
    assert read.hash_algorithm == read.files.hash_algorithm == "sha256"
    assert read.files.files == [mf.FileEntry("/d/a", 3, "ff", 1.5)]
    assert read.files.vanished == []

    # Written again, it is format 3: the same SHA-256 values, the algorithm named once.
    read.format = mf.FORMAT
    read.files.files.append(mf.FileEntry("/d/b", None, None, None, changed_during_backup=True))
    written = json.loads(read.to_json())
    assert written["format"] == "dr-backup-manifest/3" and written["hash_algorithm"] == "sha256"
    assert "hash_algorithm" not in written["files"]
    assert written["files"]["files"] == [
        {"path": "/d/a", "size": 3, "digest": "ff", "mtime": 1.5},
        {"path": "/d/b", "size": None, "digest": None, "mtime": None,
         "changed_during_backup": True},
    ]  # fmt: skip
    assert mf.manifest_from_json(read.to_json()) == read
    with pytest.raises(ValueError, match="not a dr-backup-manifest/3 manifest"):
        mf.manifest_from_json(json.dumps({**old, "format": "other/1"}).encode())
    unknown = {**written, "hash_algorithm": "md5"}
    with pytest.raises(ValueError, match="'md5', an algorithm this dr does not know"):
        mf.manifest_from_json(json.dumps(unknown).encode())


def test_a_format_2_manifest_reads_its_sha256_file_and_dump_hashes():
    old = {
        "format": "dr-backup-manifest/2", "run_id": "r", "backup_set": "s", "host": "h",
        "started_at": "t0", "finished_at": "t1", "status": "ok", "restic_version": "0.14.0",
        "files": {"snapshot_id": "abc", "paths": ["/d"], "status": "ok", "unreadable": [],
                  "error": None, "kind": "files", "vanished": ["/d/gone"],
                  "files": [{"path": "/d/a", "size": 3, "sha256": "ff", "mtime": 1.5}]},
        "databases": [{"name": "credit", "host_pair": "credit", "filename": "/credit.pgdump",
                       "snapshot_id": "def", "status": "ok", "dump_bytes": 9,
                       "dump_sha256": "ee", "error": None, "kind": "database",
                       "tables": {"public.t": {"rows": 1, "checksum": "md5sum60:1"}}}],
    }  # fmt: skip

    read = mf.manifest_from_json(json.dumps(old).encode())

    assert read.hash_algorithm == "sha256"
    assert read.files is not None and read.files.hash_algorithm == "sha256"
    assert read.files.files == [mf.FileEntry("/d/a", 3, "ff", 1.5)]
    [database] = read.databases
    assert (database.dump_digest, database.hash_algorithm) == ("ee", "sha256")


def test_a_new_manifest_hashes_with_blake3_and_says_so(tmp_path):
    (tmp_path / "a.txt").write_bytes(b"report\n")
    [hashed] = mf.hash_tree([str(tmp_path)])
    entry = mf.FileEntry(hashed.path, hashed.size, hashed.digest, hashed.mtime)
    database = mf.DatabasePart("credit", "credit", "/credit.pgdump", "def", "ok")
    manifest = mf.Manifest(
        "r", "s", "h", "t0", "t1", "ok", "0.14.0",
        mf.FilesPart("abc", [str(tmp_path)], "ok", files=[entry]), [database],
    )  # fmt: skip

    written = json.loads(manifest.to_json())

    assert written["format"] == "dr-backup-manifest/3" and written["hash_algorithm"] == "blake3"
    assert written["files"]["files"][0]["digest"] == blake3.blake3(b"report\n").hexdigest()
    assert "hash_algorithm" not in written["databases"][0]
    assert mf.manifest_from_json(manifest.to_json()).databases[0].hash_algorithm == "blake3"


def test_a_file_dr_cannot_read_says_why(settled):
    """The operator's message names the system's reason (dr's own read, not only
    restic's): a mode-000 file, read without root's override capabilities."""
    locked = settled / "locked.txt"
    locked.write_text("no\n")
    locked.chmod(0)
    script = (
        "import json, sys; from backups import manifest as mf; "
        "print(json.dumps([[h.path, h.unread_because] for h in mf.hash_tree([sys.argv[1]])"
        " if h.digest is None]))"
    )
    drop = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"]
    done = subprocess.run(
        [*drop, sys.executable, "-c", script, str(settled)],
        capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2],
    )  # fmt: skip
    [[path, why]] = json.loads(done.stdout)
    assert path == str(locked) and "Permission denied" in why
    hashed = [mf.HashedFile(path, 3, None, 0.0, (0, 0, 3, 0, 0), unread_because=why)]
    found = reconcile(hashed, stored_now(settled), started_ns=now_ns())
    assert found.unreadable == [path] and found.unread_because == {path: why}
