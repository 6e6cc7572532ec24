"""The manifest of a backup run: what was backed up, so a restore can be proven complete.

Where it lives: every run stores its manifest as a snapshot of its own, made with
`restic backup --stdin --stdin-filename dr-manifest.json` after the run's other
snapshots. All snapshots of one run carry the same tags `dr-set:SET` and `dr-run:RUN`;
the manifest's snapshot also has `dr-part:manifest` and `dr-status:ok|partial|failed`.
A restore test therefore finds, for a run: its manifest snapshot by tags, the manifest
by `restic dump ID /dr-manifest.json`, and in it the snapshot id of every part.
Retention forgets whole runs (see actions/prune.py), so a manifest and its parts go
together. A snapshot without a manifest of its run was never sealed: a run that died
half-way, or a dump that failed and was removed. Restore tests must not use it.

Format 2 lists the files the snapshot holds as restic named them while storing them,
and marks those that changed while they were backed up (see `backups.snapshot_files`);
format 1, written before, listed dr's own walk of the paths. Format 3 is format 2 with
its hash algorithm named (`hash_algorithm`, BLAKE3 when dr writes it; see
`backups.digests`) and its hashes under neutral names (`digest`, `dump_digest`); formats
1 and 2 hold SHA-256 (`sha256`, `dump_sha256`). All three are read, and a restore
checks with the algorithm its manifest names.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from backups import digests
from backups.hash_cache import HashCache, StatKey, now_ns, stat_key

FORMAT = "dr-backup-manifest/3"
# Manifests already in repositories stay readable: format 1 has no changed files, and
# neither 1 nor 2 names its hash algorithm (SHA-256).
SHA256_FORMATS = ("dr-backup-manifest/1", "dr-backup-manifest/2")
READABLE = (*SHA256_FORMATS, FORMAT)
FILENAME = "dr-manifest.json"
PATH_IN_SNAPSHOT = f"/{FILENAME}"

TAG_SET = "dr-set:"
TAG_RUN = "dr-run:"
TAG_PART = "dr-part:"
TAG_STATUS = "dr-status:"
PART_FILES = "files"
PART_MANIFEST = "manifest"


def database_part_name(name: str) -> str:
    """`db-NAME` made safe for a restic tag and a file name."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
    return f"db-{safe}"


@dataclass
class FileEntry:
    path: str
    size: int | None  # None: a file changed while backed up that dr never saw
    digest: str | None  # None: we could not read it, or it changed while read
    mtime: float | None
    # restic stored a version of it that dr cannot vouch for: it was created, changed
    # or replaced while the backup ran. Size, hash and mtime are what dr saw of it, if
    # anything; the snapshot may hold another version. Written only when true.
    changed_during_backup: bool = False

    def to_json(self) -> dict[str, Any]:
        if self.changed_during_backup:
            return vars(self)
        return {"path": self.path, "size": self.size, "digest": self.digest, "mtime": self.mtime}


@dataclass
class HashedFile:
    """A file as dr read it for the manifest, with its status before and after."""

    path: str
    size: int
    digest: str | None  # None: it could not be read, or changed while it was read
    mtime: float
    key: StatKey  # its status (lstat) before it was read
    # Its status after reading was the same as before: `digest` is of one version. A
    # file that could not be read is steady and has no hash.
    steady: bool = True
    # Why it could not be read (the system's words), for the operator's message.
    unread_because: str | None = None


@dataclass
class TableEntry:
    rows: int
    # Sum of the first 60 bits of md5(row::text) over all rows: independent of row
    # order, so a restored table gives the same number whatever order it returns.
    checksum: str


@dataclass
class FilesPart:
    snapshot_id: str | None
    paths: list[str]
    status: str  # ok | partial | failed
    files: list[FileEntry] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    error: str | None = None
    kind: str = PART_FILES
    # Files dr hashed that the snapshot does not hold: removed, renamed or created
    # while restic passed by. Nothing to restore; kept to show where they went.
    vanished: list[str] = field(default_factory=list)
    # Of `files`' digests: the manifest's, which names it once for all its parts.
    hash_algorithm: str = digests.CURRENT


@dataclass
class DatabasePart:
    name: str
    host_pair: str | None
    filename: str  # path of the dump inside its snapshot
    snapshot_id: str | None
    status: str  # ok | failed
    dump_bytes: int = 0
    dump_digest: str | None = None
    tables: dict[str, TableEntry] = field(default_factory=dict)
    error: str | None = None
    kind: str = "database"
    # Of `dump_digest`: the manifest's, which names it once for all its parts.
    hash_algorithm: str = digests.CURRENT


@dataclass
class Manifest:
    run_id: str
    backup_set: str
    host: str
    started_at: str
    finished_at: str
    status: str
    restic_version: str
    files: FilesPart | None
    databases: list[DatabasePart]
    format: str = FORMAT
    hash_algorithm: str = digests.CURRENT

    def __post_init__(self) -> None:
        # A restore is handed one part; it checks with the algorithm of the whole.
        for part in self._parts():
            part.hash_algorithm = self.hash_algorithm

    def to_json(self) -> bytes:
        # dataclasses.asdict deep-copies every value, which for thousands of files shows
        # after restic finished (bench/backup_vs_restic.py). The file entries hold only
        # plain values, so `vars` will do.
        document = asdict(replace(self, files=None))
        for database in document["databases"]:
            del database["hash_algorithm"]
        if self.files is not None:
            files = asdict(replace(self.files, files=[]))
            del files["hash_algorithm"]
            document["files"] = {
                **files,
                "files": [entry.to_json() for entry in self.files.files],
            }
        text = json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
        try:
            return text.encode()
        except UnicodeEncodeError:
            # A file name that is not UTF-8 (os.fsdecode keeps its bytes as surrogates):
            # escaped, it reads back as the same name.
            return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()

    def snapshot_ids(self) -> list[str]:
        return [p.snapshot_id for p in self._parts() if p.snapshot_id and p.status != "failed"]

    def _parts(self) -> list[FilesPart | DatabasePart]:
        return [*([self.files] if self.files else []), *self.databases]


def manifest_from_json(data: bytes) -> Manifest:
    raw = json.loads(data)
    if raw.get("format") not in READABLE:
        raise ValueError(f"not a {FORMAT} manifest (format {raw.get('format')!r})")
    sha256_names = raw["format"] in SHA256_FORMATS
    if sha256_names:
        raw["hash_algorithm"] = digests.SHA256
    if raw.get("hash_algorithm") not in digests.KNOWN:
        raise ValueError(
            f"the manifest's hashes are {raw.get('hash_algorithm')!r}, an algorithm this dr "
            f"does not know (it knows {', '.join(digests.KNOWN)})"
        )
    files = raw.pop("files")
    databases = raw.pop("databases")
    return Manifest(
        **raw,
        files=None if files is None else _files_part(files, sha256_names),
        databases=[_database_part(d, sha256_names) for d in databases],
    )


def _files_part(raw: dict[str, Any], sha256_names: bool) -> FilesPart:
    if sha256_names:
        for entry in raw["files"]:
            entry["digest"] = entry.pop("sha256")
    entries = [FileEntry(**e) for e in raw.pop("files")]
    return FilesPart(**raw, files=entries)


def _database_part(raw: dict[str, Any], sha256_names: bool) -> DatabasePart:
    if sha256_names:
        raw["dump_digest"] = raw.pop("dump_sha256", None)
    tables = {name: TableEntry(**t) for name, t in raw.pop("tables").items()}
    return DatabasePart(**raw, tables=tables)


def hash_tree(
    paths: list[str], cache: HashCache | None = None, *, algorithm: str = digests.CURRENT
) -> list[HashedFile]:
    """Every regular file under `paths` (symlinks not followed, as restic does), hashed
    with `algorithm`. With `cache` (of the same algorithm), unchanged files keep their
    previous hash (see `backups.hash_cache`)."""
    if cache is not None and cache.algorithm != algorithm:
        raise ValueError(f"a cache of {cache.algorithm} hashes cannot give {algorithm} ones")
    buffer = digests.read_buffer()
    entries: list[HashedFile] = []
    for root in paths:
        for path in _walk(str(Path(root))):
            entry = _entry(path, cache, algorithm, buffer)
            if entry is not None:
                entries.append(entry)
    return entries


def _walk(root: str) -> list[str]:
    """Candidate files, sorted; `_entry` keeps the regular ones (one lstat per file)."""
    try:
        mode = os.lstat(root).st_mode
    except OSError:
        return []
    if stat.S_ISREG(mode):
        return [root]
    if not stat.S_ISDIR(mode):
        return []
    found: list[str] = []
    for directory, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        found += (os.path.join(directory, name) for name in sorted(files))
    return found


def _entry(
    path: str, cache: HashCache | None, algorithm: str, buffer: bytearray
) -> HashedFile | None:
    """None: not a regular file, or removed since the listing (restic skips it too)."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        return None
    key = stat_key(info)
    cached = cache.lookup(path, info) if cache is not None else None
    if cached is not None:
        return HashedFile(path, info.st_size, cached, info.st_mtime, key)
    hashed_at = now_ns()
    try:
        with open(path, "rb", buffering=0) as handle:
            digest = digests.hash_file(handle, algorithm, buffer)
            after = os.fstat(handle.fileno())
    except FileNotFoundError:
        return None
    except OSError as err:
        return HashedFile(path, info.st_size, None, info.st_mtime, key, unread_because=str(err))
    # Another inode (replaced since the lstat), or written while read: no one version.
    if stat_key(after) != key:
        return HashedFile(path, info.st_size, None, info.st_mtime, key, steady=False)
    if cache is not None:
        cache.remember(path, info, hashed_at, digest)
    return HashedFile(path, info.st_size, digest, info.st_mtime, key)
