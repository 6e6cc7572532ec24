"""The hash of every file from a set's previous backup, reused for unchanged files.

The manifest needs the hash of every file at every run; on a daily backup almost all
files are the ones of yesterday, and re-reading them cost dr more than restic's whole
run (restic itself skips unchanged files by their metadata; bench/backup_vs_restic.py's
"unchanged" case measures both). A hash is reused only when the file's device, inode,
size, mtime and ctime are all what they were when it was hashed: the test restic
applies against its parent snapshot, plus the ctime, which no program can set back. One
more condition guards against a change within the clock's granularity: the file's ctime
must be more than `SETTLED_NS` older than the moment it was hashed, or the hash is taken
again next time.

One cache file per backup set and repository, written only after restic stored the
files' snapshot, under the user's state directory, readable by its owner only. It names
the algorithm of its hashes (`backups.digests`), and is used only for a manifest of the
same algorithm: a SHA-256 hash from before BLAKE3 manifests is never copied into one. A
missing, unreadable, foreign or other-algorithm cache file only means every file is
read again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from backups import digests
from backups.locks import state_dir
from orchestrator.private_files import private_directory, sync_directory

# Format 1 held SHA-256 hashes without saying so; it is not read (see `_load`).
FORMAT = "dr-hash-cache/2"
# Timestamps come from the kernel's coarse clock (a few ms), or whole seconds on some
# filesystems: a change within this much of a moment may not show in the ctime.
SETTLED_NS = 1_000_000_000

# device, inode, size, mtime_ns, ctime_ns
StatKey = tuple[int, int, int, int, int]


def stat_key(info: os.stat_result) -> StatKey:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


@dataclass
class HashCache:
    path: Path | None
    algorithm: str = digests.CURRENT  # of every hash in it, read or remembered
    # path -> (stat key, hashed at (ns), digest) from the previous run; read at the
    # first lookup, which comes after restic started (the file can be megabytes).
    _previous: dict[str, tuple[StatKey, int, str]] | None = None
    # what this run hashed or reused: the next run's cache
    _current: dict[str, tuple[StatKey, int, str]] = field(default_factory=dict)
    reused: int = 0
    _staged: Path | None = None

    @classmethod
    def for_set(
        cls, set_name: str, repository_location: str, algorithm: str = digests.CURRENT
    ) -> HashCache:
        # Per repository too: a set moved to a new repository starts with restic reading
        # every file, and so do we.
        where = hashlib.sha256(repository_location.encode()).hexdigest()[:16]
        return cls(state_dir() / "hash-cache" / f"{_safe(set_name)}-{where}.json", algorithm)

    def lookup(self, path: str, info: os.stat_result) -> str | None:
        """The cached hash of `path` if the file is provably the one hashed then."""
        if self._previous is None:
            self._previous = _load(self.path, self.algorithm) if self.path is not None else {}
        found = self._previous.get(path)
        if found is None:
            return None
        key, hashed_at, digest = found
        if key != stat_key(info) or info.st_ctime_ns + SETTLED_NS >= hashed_at:
            return None
        self._current[path] = found
        self.reused += 1
        return digest

    def remember(self, path: str, info: os.stat_result, hashed_at_ns: int, digest: str) -> None:
        """`info` must be the file's status taken before it was read for `digest`, and
        the same after it (a file that changed while read has no hash of one version)."""
        self._current[path] = (stat_key(info), hashed_at_ns, digest)

    def stage(self) -> None:
        """Write this run's hashes beside the cache file, for `commit()` to put in place
        once restic stored the snapshot. Done while restic still runs, so that what is
        left after it is a rename. Best effort: without a staged file, nothing changes."""
        if self.path is None:
            return
        document = {
            "format": FORMAT,
            "algorithm": self.algorithm,
            "files": {p: [*key, at, digest] for p, (key, at, digest) in self._current.items()},
        }
        with contextlib.suppress(OSError):
            private_directory(self.path.parent)
            fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".staged-")
            self._staged = Path(temporary)
            with os.fdopen(fd, "w") as handle:
                # One write of one string: json.dump's many small writes cost more
                # (bench/backup_vs_restic.py, the "unchanged" case, writes the cache).
                handle.write(json.dumps(document, separators=(",", ":")))
                # On disk before `commit()` renames it: a power cut must not leave a
                # cache that is the new name over no content.
                handle.flush()
                os.fsync(handle.fileno())

    def commit(self) -> None:
        """Make the staged hashes the cache (restic stored the files they describe)."""
        staged, self._staged = self._staged, None
        if staged is not None and self.path is not None:
            with contextlib.suppress(OSError):
                os.replace(staged, self.path)
                sync_directory(self.path.parent)

    def discard(self) -> None:
        """Drop staged hashes that were not committed (the run failed)."""
        staged, self._staged = self._staged, None
        if staged is not None:
            with contextlib.suppress(OSError):
                staged.unlink()


def now_ns() -> int:
    return time.time_ns()


def _load(path: Path, algorithm: str) -> dict[str, tuple[StatKey, int, str]]:
    try:
        document = json.loads(path.read_text())
        if document.get("format") != FORMAT or document.get("algorithm") != algorithm:
            return {}
        return {
            p: ((v[0], v[1], v[2], v[3], v[4]), v[5], v[6]) for p, v in document["files"].items()
        }
    except (OSError, ValueError, KeyError, IndexError, TypeError, AttributeError):
        return {}


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
