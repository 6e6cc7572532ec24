"""Storage faults of the drill lab: `corrupt-backup REPO` and `disk-full HOST`.

corrupt-backup flips a few bytes inside one pack file of a restic repository, in a local
directory or in the lab's S3 bucket. Only the blob area is touched, never the pack's
header, so the repository still opens, lists snapshots and passes a plain `restic
check`, the way silent bit rot looks; `restic check --read-data`, which hashes every
pack, and a restore that needs those blobs fail. Every flipped byte's offset and original
value go to a JSON record, so heal writes back exactly the original bytes.

disk-full fills a small, size-limited filesystem that the lab mounts for a host's data
at `up`, *before* the host's programs start (`mount_small_disk`). Why not mount something
over the data directory when the fault strikes: programs that already hold files or the
directory open there (PostgreSQL does) would keep writing to the disk underneath and
never notice. Filling an existing small filesystem is also what a full disk really is:
every writer on it gets ENOSPC, existing data stays readable, and deleting the ballast
(heal) gives the space back without losing a byte written before or after. A tmpfs is the
filesystem: bounded by its size option, no loop device or image file, and gone at
unmount. `fill_disk` refuses any path that is not such a lab disk, so it can never fill
the machine's own disk.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import random
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from lab.errors import LabError

T = TypeVar("T")
FLIPPED_BYTES = 8
DISK_SOURCE = "drlab-disk"  # the tmpfs "device" name, as findmnt shows it
DISK_META = ".dr-lab-disk"  # on each lab disk: marks it as ours and holds the ballast
_BALLAST_CHUNKS = (1 << 20, 4096)  # big writes first, then fill the last pages


# --- corrupt-backup ----------------------------------------------------------------------


def _flip(data: bytes, rng: random.Random) -> tuple[bytes, list[list[int]]]:
    """`data` with FLIPPED_BYTES bytes of its blob area inverted, and [offset, original]s."""
    # A restic pack ends with its (encrypted) header and the header's length as 4 bytes,
    # little-endian; everything before the header is blobs.
    header_length = int.from_bytes(data[-4:], "little") if len(data) >= 4 else len(data)
    blob_end = len(data) - 4 - header_length
    if blob_end <= 0:
        raise LabError("the chosen file is not a restic pack (no room for blobs before its header)")
    buffer = bytearray(data)
    flips = [
        [offset, buffer[offset]]
        for offset in sorted(rng.sample(range(blob_end), min(FLIPPED_BYTES, blob_end)))
    ]
    for offset, _ in flips:
        buffer[offset] ^= 0xFF
    return bytes(buffer), flips


def _pick(sizes: dict[T, int], seed: int | None) -> T:
    """One of the larger half of the packs. restic keeps trees apart from file data, in
    packs that are usually small; sparing them keeps snapshots listable and a plain
    `restic check` passing, so only reading the data finds the damage."""
    larger = sorted(sizes, key=lambda pack: (-sizes[pack], str(pack)))[: max(1, len(sizes) // 2)]
    return random.Random(seed).choice(larger)


def _unflip(data: bytes, flips: list[list[int]]) -> bytes:
    buffer = bytearray(data)
    for offset, original in flips:
        buffer[offset] = original
    return bytes(buffer)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_record(record: Path, entry: dict[str, Any]) -> None:
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps(entry, indent=1) + "\n")


def _read_record(record: Path) -> dict[str, Any] | None:
    try:
        entry: dict[str, Any] = json.loads(record.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise LabError(f"cannot read the corruption record {record}: {error}") from None
    return entry


def _default_record(repo_path: Path) -> Path:
    # Beside the repository, not in it: restic must see nothing but its own files.
    return repo_path.with_name(repo_path.name + ".corrupt-pack.json")


def _write_in_place(pack: Path, data: bytes) -> None:
    """Overwrite `pack` in place, keeping its inode, mode and times, as bit rot would."""
    status = pack.stat()
    pack.chmod(status.st_mode | 0o200)  # restic makes packs read-only
    try:
        pack.write_bytes(data)
    finally:
        pack.chmod(status.st_mode)
        os.utime(pack, ns=(status.st_atime_ns, status.st_mtime_ns))


def corrupt_pack(repo_path: Path, *, seed: int | None = None, record: Path | None = None) -> Path:
    """Corrupt one pack of the local restic repository at `repo_path`; returns the pack.

    Idempotent: while a corruption is recorded, its pack is returned again untouched."""
    record = record or _default_record(repo_path)
    entry = _read_record(record)
    if entry is not None:
        return repo_path / entry["pack"]
    packs = sorted((repo_path / "data").glob("??/*"))
    if not packs:
        raise LabError(
            f"{repo_path} holds no restic pack files (data/xx/...); back something up first"
        )
    pack = _pick({pack: pack.stat().st_size for pack in packs}, seed)
    corrupted, flips = _flip(pack.read_bytes(), random.Random(seed))
    _write_record(
        record,
        {
            "pack": str(pack.relative_to(repo_path)),
            "flips": flips,
            "sha256_corrupted": _sha256(corrupted),
        },
    )
    _write_in_place(pack, corrupted)
    return pack


def restore_pack(repo_path: Path, *, record: Path | None = None) -> Path | None:
    """Heal `corrupt_pack`: put the original bytes back; returns the pack, None if no
    corruption was recorded or its pack has since been removed (pruned)."""
    record = record or _default_record(repo_path)
    entry = _read_record(record)
    if entry is None:
        return None
    pack = repo_path / entry["pack"]
    if pack.exists():
        data = pack.read_bytes()
        _check_unchanged(data, entry, str(pack), record)
        _write_in_place(pack, _unflip(data, entry["flips"]))
    record.unlink()
    return pack if pack.exists() else None


def _check_unchanged(data: bytes, entry: dict[str, Any], name: str, record: Path) -> None:
    # Writing old bytes into a pack that was rewritten since would corrupt it afresh.
    if _sha256(data) != entry["sha256_corrupted"]:
        raise LabError(
            f"{name} changed since it was corrupted; leaving it alone. "
            f"Delete {record} to forget the fault."
        )


def corrupt_s3_pack(
    client: Any, bucket: str, prefix: str, *, record: Path, seed: int | None = None
) -> str:
    """Corrupt one pack of the restic repository at s3:.../`bucket`/`prefix`; returns its
    key. With versioning on, the intact version stays in the bucket's history."""
    entry = _read_record(record)
    if entry is not None:
        return str(entry["key"])
    data_prefix = f"{prefix.strip('/')}/data/" if prefix.strip("/") else "data/"
    keys: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=data_prefix):
        keys |= {item["Key"]: item["Size"] for item in page.get("Contents", [])}
    if not keys:
        raise LabError(
            f"s3://{bucket}/{data_prefix} holds no restic pack files; back something up first"
        )
    key = _pick(keys, seed)
    original = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    corrupted, flips = _flip(original, random.Random(seed))
    _write_record(
        record,
        {"bucket": bucket, "key": key, "flips": flips, "sha256_corrupted": _sha256(corrupted)},
    )
    client.put_object(Bucket=bucket, Key=key, Body=corrupted)
    return key


def restore_s3_pack(client: Any, *, record: Path) -> str | None:
    """Heal `corrupt_s3_pack`; returns the key, None if nothing was recorded or the pack
    is gone."""
    entry = _read_record(record)
    if entry is None:
        return None
    bucket, key = entry["bucket"], entry["key"]
    try:
        data = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.NoSuchKey:
        record.unlink()
        return None
    _check_unchanged(data, entry, f"s3://{bucket}/{key}", record)
    client.put_object(Bucket=bucket, Key=key, Body=_unflip(data, entry["flips"]))
    record.unlink()
    return str(key)


# --- disk-full ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SmallDisk:
    """A size-limited tmpfs the lab mounted; `unmount_small_disk(mountpoint)` undoes it."""

    mountpoint: Path
    size_mb: int


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True)


def _is_lab_disk(path: Path) -> bool:
    return os.path.ismount(path) and (path / DISK_META).is_dir()


def mount_small_disk(path: Path, *, size_mb: int, lab_root: Path) -> SmallDisk:
    """Mount a `size_mb` MiB tmpfs at `path`, an empty directory under `lab_root`.

    Call it at `dr lab up` before the host's programs create anything there; idempotent."""
    path, lab_root = path.absolute(), lab_root.resolve()
    if not path.resolve().is_relative_to(lab_root) or path.resolve() == lab_root:
        raise LabError(
            f"refusing to mount a lab disk at {path}: "
            f"it is not inside the lab's state directory {lab_root}"
        )
    if _is_lab_disk(path):
        return SmallDisk(path, size_mb)
    path.mkdir(parents=True, exist_ok=True)
    if os.path.ismount(path) or any(path.iterdir()):
        raise LabError(
            f"{path} is already a mount point or not empty; the lab disk must be mounted "
            "before anything is written there (`dr lab down` clears the state directory)"
        )
    owner = path.stat()
    options = (
        f"size={size_mb}m,mode={owner.st_mode & 0o7777:o},uid={owner.st_uid},gid={owner.st_gid}"
    )
    mounted = _run("mount", "-t", "tmpfs", "-o", options, DISK_SOURCE, str(path))
    if mounted.returncode != 0:
        raise LabError(
            f"could not mount a {size_mb} MiB tmpfs at {path} (needs root): "
            + mounted.stderr.strip()
        )
    (path / DISK_META).mkdir(mode=0o700)
    return SmallDisk(path, size_mb)


def unmount_small_disk(path: Path) -> None:
    """Teardown: unmount a lab disk and everything on it; does nothing if not mounted.

    A program still using it cannot keep it in the mount table: the disk is then detached
    lazily and its memory freed when that program exits."""
    if not _is_lab_disk(path):
        return
    if _run("umount", str(path)).returncode != 0:
        detached = _run("umount", "--lazy", str(path))
        if detached.returncode != 0:
            raise LabError(f"could not unmount the lab disk {path}: {detached.stderr.strip()}")


def lab_disks(lab_root: Path) -> list[Path]:
    """Every lab disk mounted under `lab_root`, deepest first: what teardown must undo,
    also after a crash that lost the `SmallDisk` values."""
    root, found = lab_root.resolve(), []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        tail = fields[fields.index("-") + 1 :]
        # Mount points escape blanks and backslashes as octal (\040).
        target = Path(re.sub(r"\\([0-7]{3})", lambda code: chr(int(code[1], 8)), fields[4]))
        if tail[:2] == ["tmpfs", DISK_SOURCE] and target.is_relative_to(root):
            found.append(target)
    return sorted(found, key=lambda target: len(target.parts), reverse=True)


def _require_lab_disk(path: Path) -> Path:
    if not _is_lab_disk(path):
        raise LabError(f"{path} is not a lab disk; the lab mounts one for each host at `dr lab up`")
    return path / DISK_META / "ballast"


def fill_disk(path: Path, *, size_mb: int | None = None) -> int:
    """The `disk-full` fault: a ballast file takes all free space of the lab disk at
    `path` (or `size_mb` MiB of it); returns the bytes it holds."""
    ballast = _require_lab_disk(path)
    budget = size_mb * (1 << 20) if size_mb is not None else None
    fd = os.open(ballast, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for chunk in _BALLAST_CHUNKS:
            zeros = bytes(chunk)
            while budget is None or os.fstat(fd).st_size < budget:
                try:
                    os.write(fd, zeros)
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise
                    break
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


def free_disk(path: Path) -> None:
    """Heal `disk-full`: remove the ballast; the disk's own data is left as it is."""
    _require_lab_disk(path).unlink(missing_ok=True)
