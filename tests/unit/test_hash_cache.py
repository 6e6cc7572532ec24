"""The manifest's hash cache on real files: reuse only what is provably unchanged."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from pathlib import Path

import blake3
import pytest

from backups import manifest as mf
from backups.hash_cache import HashCache


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    return tmp_path / "state"


def settled_tree(root: Path) -> dict[str, bytes]:
    """Files whose ctime is safely (> 1 s) older than any hashing that follows."""
    contents = {"a.txt": b"first report\n", "sub/b.bin": os.urandom(4096), "c.txt": b"same"}
    for name, data in contents.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    time.sleep(1.1)
    return {str(root / name): data for name, data in contents.items()}


def run(root: Path, location: str = "/repo") -> tuple[dict[str, str], int]:
    """One backup's hashing with the cache, committed as after a stored snapshot."""
    cache = HashCache.for_set("credit", location)
    entries = mf.hash_tree([str(root)], cache)
    cache.stage()
    cache.commit()
    return {e.path: e.digest for e in entries}, cache.reused


def test_unchanged_files_are_reused_and_changed_ones_hashed_again(tmp_path, state):
    root = tmp_path / "data"
    files = settled_tree(root)
    first, reused = run(root)
    assert reused == 0
    assert first == {p: blake3.blake3(d).hexdigest() for p, d in files.items()}

    # Same size, and the mtime put back: only the ctime tells, and it must be enough.
    changed = root / "c.txt"
    before = changed.stat()
    changed.write_bytes(b"diff")
    os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))
    second, reused = run(root)

    assert reused == 2
    assert second[str(changed)] == blake3.blake3(b"diff").hexdigest()
    assert {p: h for p, h in second.items() if p != str(changed)} == {
        p: h for p, h in first.items() if p != str(changed)
    }


def test_a_file_changed_just_before_hashing_is_not_trusted_next_time(tmp_path, state):
    root = tmp_path / "data"
    settled_tree(root)
    fresh = root / "a.txt"
    fresh.write_bytes(b"written a moment before the backup\n")  # ctime ~ hashing time
    run(root)

    _, reused = run(root)

    # Its metadata did not change, but it was hashed within the clock's granularity of
    # its last change: read again. The two settled files are reused.
    assert reused == 2


def test_a_replaced_file_with_the_same_times_is_hashed_again(tmp_path, state):
    root = tmp_path / "data"
    settled_tree(root)
    run(root)
    target = root / "sub" / "b.bin"
    before = target.stat()
    replacement = root / "sub" / "new.bin"
    replacement.write_bytes(os.urandom(4096))
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
    replacement.replace(target)  # another inode under the same name

    hashes, reused = run(root)

    assert reused == 2
    assert hashes[str(target)] == blake3.blake3(target.read_bytes()).hexdigest()


def test_another_repository_starts_with_no_cache(tmp_path, state):
    root = tmp_path / "data"
    settled_tree(root)
    run(root, "/repo-one")

    assert run(root, "/repo-two")[1] == 0
    assert run(root, "/repo-one")[1] == 3


def test_an_uncommitted_run_leaves_the_previous_cache(tmp_path, state):
    root = tmp_path / "data"
    settled_tree(root)
    run(root)
    cache = HashCache.for_set("credit", "/repo")
    mf.hash_tree([str(root)], cache)
    cache.stage()
    cache.discard()  # restic stored no snapshot

    assert [p.name for p in (state / "dr" / "hash-cache").iterdir()] == [
        HashCache.for_set("credit", "/repo").path.name  # type: ignore[union-attr]
    ]
    assert run(root)[1] == 3


def test_a_damaged_cache_file_means_reading_everything(tmp_path, state):
    root = tmp_path / "data"
    settled_tree(root)
    run(root)
    path = HashCache.for_set("credit", "/repo").path
    assert path is not None
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # hashes and paths: owner only
    path.write_text('{"format": "dr-hash-cache/2", "algorithm": "blake3", "files": {"x": [1]}')

    assert run(root)[1] == 0
    assert run(root)[1] == 3


def test_sha256_hashes_are_never_reused_for_a_blake3_manifest(tmp_path, state):
    root = tmp_path / "data"
    files = settled_tree(root)
    old = HashCache.for_set("credit", "/repo", algorithm="sha256")
    mf.hash_tree([str(root)], old, algorithm="sha256")
    old.stage()
    old.commit()

    hashes, reused = run(root)  # a BLAKE3 manifest, over the SHA-256 cache of before

    assert reused == 0
    assert hashes == {p: blake3.blake3(d).hexdigest() for p, d in files.items()}
    assert run(root)[1] == 3  # its own cache, once written, is reused
    again = HashCache.for_set("credit", "/repo", algorithm="sha256")
    mf.hash_tree([str(root)], again, algorithm="sha256")
    assert again.reused == 0  # and the other way round
    with pytest.raises(ValueError, match="a cache of sha256 hashes cannot give blake3 ones"):
        mf.hash_tree([str(root)], again, algorithm="blake3")


def test_a_cache_file_of_format_1_is_not_read(tmp_path, state):
    """Format 1 held SHA-256 hashes without naming them, as dr wrote it before BLAKE3."""
    root = tmp_path / "data"
    files = settled_tree(root)
    path = HashCache.for_set("credit", "/repo").path
    assert path is not None
    path.parent.mkdir(parents=True)
    entries = {}
    for name in files:
        info = os.lstat(name)
        key = [info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns]
        entries[name] = [*key, time.time_ns(), hashlib.sha256(files[name]).hexdigest()]
    path.write_text(json.dumps({"format": "dr-hash-cache/1", "files": entries}))

    hashes, reused = run(root)

    assert reused == 0
    assert hashes == {p: blake3.blake3(d).hexdigest() for p, d in files.items()}
