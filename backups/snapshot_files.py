"""Which files a snapshot of a set's paths holds, and which of dr's hashes describe them.

dr hashes the files beside restic (see `backups.alongside`), not through it, so the two
read each file at different moments. A manifest made of dr's walk alone named files
restic never saw and missed files it stored whenever the directory was being written:
a restore test of a healthy backup then failed every time. So:

- restic names every file as it stores it (`backup -v`, see `backups.restic.backup`):
  that list, not dr's walk, is the manifest's list of files. Should it be incomplete,
  `restic ls` of the snapshot gives it instead (a second pass, so only then).
- When restic names a file, dr takes the file's status (lstat): the file as it was just
  after restic read it.
- dr's hash is of the version restic stored when the file's status was the same before
  and after dr read it and after restic stored it, and its last change (the ctime, which
  no program can set back) came before the backup started by more than the clock's
  granularity (`SETTLED_NS`): both reads then fell in a time when it did not change.
- Every other file restic stored changed while it was backed up. Its entry says so and
  keeps what dr saw of it; a restore test checks that it comes back and uses dr's hash
  only if it matches, never reporting the difference as damage.
- A file dr hashed that restic did not store was removed or renamed before restic came
  to it, or created after restic passed its directory: it is not expected back, and
  its name goes to `vanished`, with the items restic itself found gone.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from backups.hash_cache import SETTLED_NS, StatKey, stat_key
from backups.manifest import FileEntry, HashedFile
from backups.restic.backup import BackupOutput, BackupSummary, parse_stored_item
from backups.restic.ls import build_ls, listed_file
from backups.session import RepositorySession

_REPLACED = "\ufffd"


@dataclass
class StoredFiles:
    """The files restic stored, each with its status just after (None: gone by then)."""

    files: dict[str, StatKey | None] = field(default_factory=dict)

    def take(self, message: dict[str, Any]) -> None:
        """One line of `restic backup --json -v`, as it arrives."""
        item = parse_stored_item(message)
        if item is not None and not item.is_dir:
            self.files[item.path] = _status(item.path)

    def complete(self, summary: BackupSummary) -> bool:
        return len(self.files) == summary.files


def listed_files(session: RepositorySession, snapshot_id: str) -> StoredFiles:
    """The files of a stored snapshot from `restic ls`, each with its status now."""
    stored = StoredFiles()

    def take(message: dict[str, Any]) -> None:
        path = listed_file(message)
        if path is not None:
            stored.files[path] = _status(path)

    session.restic(build_ls(snapshot_id), what="restic ls", on_json=take)
    return stored


def snapshot_contents(
    session: RepositorySession,
    output: BackupOutput,
    stored: StoredFiles,
    hashed: list[HashedFile],
    *,
    started_ns: int,
) -> SnapshotFiles:
    """What the snapshot `output` made holds, once restic finished: from restic's own
    list of what it stored, or from `restic ls` should that be incomplete."""
    assert output.summary is not None
    if not stored.complete(output.summary):
        stored = listed_files(session, output.summary.snapshot_id)
    gone = [e.item for e in output.errors if e.vanished]
    return reconcile(hashed, stored, started_ns=started_ns, gone=gone)


@dataclass
class SnapshotFiles:
    """The files part's contents: what the snapshot holds, as the manifest records it."""

    entries: list[FileEntry]
    vanished: list[str]
    unreadable: list[str]  # files dr could not read
    # Why, where the system said (path -> its words): the operator's message names it.
    unread_because: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(1 for e in self.entries if e.changed_during_backup)


def reconcile(
    hashed: list[HashedFile],
    stored: StoredFiles,
    *,
    started_ns: int,
    gone: Iterable[str] = (),
) -> SnapshotFiles:
    """The manifest's files from restic's list and dr's hashes. `started_ns`: the wall
    clock before restic started; `gone`: items restic found removed (ENOENT)."""
    mine = {h.path: h for h in hashed}
    unreadable = sorted(h.path for h in hashed if h.digest is None and h.steady)
    names = _names_on_disk(stored.files, mine)
    entries = []
    for item, after in stored.files.items():
        path = names.get(item, item)
        if path != item:
            after = _status(path)  # what restic named could not be looked up
        entries.append(_entry(path, mine.pop(path, None), after, started_ns))
    entries.sort(key=lambda e: e.path)
    vanished = {p for p, h in mine.items() if not (h.digest is None and h.steady)}
    because = {h.path: h.unread_because for h in hashed if h.unread_because is not None}
    return SnapshotFiles(entries, sorted(vanished | set(gone)), unreadable, because)


def _entry(path: str, mine: HashedFile | None, after: StatKey | None, started_ns: int) -> FileEntry:
    if mine is None:  # created while restic ran, or dr's walk missed it
        if after is None:
            return FileEntry(path, None, None, None, changed_during_backup=True)
        return FileEntry(path, after[2], None, after[3] / 1e9, changed_during_backup=True)
    if mine.digest is None and mine.steady:  # unreadable: the run is partial
        return FileEntry(path, mine.size, None, mine.mtime)
    same = (
        mine.steady
        and after == mine.key
        and mine.key[4] + SETTLED_NS < started_ns  # its last change
    )
    return FileEntry(path, mine.size, mine.digest, mine.mtime, changed_during_backup=not same)


def _status(path: str) -> StatKey | None:
    try:
        return stat_key(os.lstat(path))
    except OSError:
        return None


def as_restic_name(path: str) -> str:
    """`path` as restic's JSON shows it: a name that is not UTF-8 has each byte that
    does not decode replaced with U+FFFD (Go's rule; Python's "replace" differs). What
    restic restores still has the original bytes."""
    raw, out, at = os.fsencode(path), [], 0
    while at < len(raw):
        for width in (1, 2, 3, 4):
            try:
                out.append(raw[at : at + width].decode())
            except UnicodeDecodeError:
                continue
            at += width
            break
        else:
            out.append(_REPLACED)
            at += 1
    return "".join(out)


def _names_on_disk(items: Iterable[str], mine: dict[str, HashedFile]) -> dict[str, str]:
    """restic's names that are not names on disk (see `as_restic_name`), mapped to
    the files dr hashed that they stand for."""
    odd = [item for item in items if _REPLACED in item and item not in mine]
    if not odd:
        return {}
    shown = {as_restic_name(path): path for path in mine if not path.isascii()}
    return {item: shown[item] for item in odd if item in shown}
