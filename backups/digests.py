"""The hashes a backup manifest holds: of every file, and of every database dump.

A manifest names the algorithm of all its hashes (`hash_algorithm`), and a restore
checks with the one it names. New manifests use BLAKE3: the files are hashed while
restic backs them up, on the same cores, so every CPU-second the hash costs is taken
from restic or added to the run (bench/backup_vs_restic.py), and BLAKE3 costs less per
byte than SHA-256 while staying a cryptographic hash. Manifests written before
(formats 1 and 2) hold SHA-256 and are checked with it.

BLAKE3 runs on one thread: beside restic, more threads would only take the cores from
it. Files are read into one reused buffer, not memory-mapped: a file truncated while it
is mapped kills the reader with SIGBUS, and dr hashes directories that are being written.
"""

from __future__ import annotations

import hashlib
import io
from typing import Protocol

import blake3

SHA256 = "sha256"
BLAKE3 = "blake3"
# What new manifests use.
CURRENT = BLAKE3
KNOWN = (SHA256, BLAKE3)
# Large reads: fewer system calls and hash calls per file; both hashes take the whole
# buffer at once (BLAKE3 without holding the GIL, so dr's other threads go on).
READ_SIZE = 1 << 20


class Hasher(Protocol):
    def update(self, data: bytes | bytearray | memoryview, /) -> object: ...

    def hexdigest(self) -> str: ...


def new_hasher(algorithm: str) -> Hasher:
    if algorithm == BLAKE3:
        return blake3.blake3(max_threads=1)
    if algorithm == SHA256:
        return hashlib.sha256()
    raise ValueError(f"unknown hash algorithm {algorithm!r} (known: {', '.join(KNOWN)})")


def read_buffer() -> bytearray:
    """A buffer for `hash_file`, one per thread that hashes."""
    return bytearray(READ_SIZE)


def hash_file(handle: io.RawIOBase | io.BufferedIOBase, algorithm: str, buffer: bytearray) -> str:
    """The hex digest of what is left to read from `handle` (best opened unbuffered)."""
    hasher = new_hasher(algorithm)
    view = memoryview(buffer)
    while read := handle.readinto(view):
        hasher.update(view[:read])
    return hasher.hexdigest()


def label(algorithm: str) -> str:
    """The algorithm as an operator reads it in a message."""
    return {SHA256: "SHA-256", BLAKE3: "BLAKE3"}.get(algorithm, algorithm)
