"""What went wrong when pgBackRest exits non-zero, as one of our exceptions.

pgBackRest exits with its own error code (src/build/error/error.yaml in its source) and
prints `ERROR: [NNN]: what` on stderr, then `HINT:` lines. The code says most of it; a
few codes need the text: an info file that will not load because the cipher pass is
wrong reads as a format error (the decrypted bytes are noise), and a missing stanza as
a missing file. The samples in tests/data/pgbackrest-2.45/ are real 2.45 output.
`info` itself exits 0 whatever a repository's state; `repository_problem` reads the
status it reports per repository.
"""

from __future__ import annotations

import re

from orchestrator.errors import (
    ArchivingBroken,
    DatabaseUnreachable,
    DrError,
    PgBackRestFailed,
    RepositoryLocked,
    RepositoryNotFound,
    RepositoryUnreachable,
    RestoreRefused,
    WrongRepositoryPassword,
)

EXIT_OK = 0
FILE_INVALID = 28
FORMAT = 29
OPTION_REQUIRED = 37
PG_RUNNING = 38
PROTOCOL = 39
PATH_NOT_EMPTY = 40
ARCHIVE_MISMATCH = 44
HOST_CONNECT = 49
LOCK_ACQUIRE = 50
BACKUP_MISMATCH = 51
FILE_MISSING = 55
DB_CONNECT = 56
DB_MISMATCH = 58
STOP = 62
ARCHIVE_COMMAND_INVALID = 68
ARCHIVE_TIMEOUT = 82
ARCHIVE_DISABLED = 87
CRYPTO = 95
SERVICE = 101

_NO_STANZA = "has a stanza-create been performed?"
_INFO_FILE = "unable to load info file"
# info's per-repository status: 1 missing stanza path, 3 missing stanza data.
_INFO_NO_STANZA = (1, 3)
_INFO_ERROR_TYPE = re.compile(r"^\[(\w+)\]")
# Lines worth repeating to the operator: the error, its causes, pgBackRest's hints.
_CAUSE = re.compile(r"^(ERROR:|WARN:|HINT:|\w+Error: )")


def classify(exit_code: int, stderr: str, *, what: str, where: str) -> DrError:
    """The exception for a failed pgBackRest command. `stderr` must already be masked;
    `where` names the stanza and repositories for the operator."""
    detail = summary(stderr)
    if exit_code == FILE_MISSING and _NO_STANZA in stderr:
        return RepositoryNotFound(
            f"{what}: {where} has no pgBackRest stanza yet. If this backup set is new, "
            f"create it with `dr backup init`; otherwise the repository is lost or the "
            f"inventory names the wrong place. pgBackRest said: {detail}"
        )
    if exit_code == CRYPTO or (exit_code == FORMAT and _INFO_FILE in stderr):
        return _wrong_pass(what, where)
    if exit_code in (HOST_CONNECT, SERVICE, PROTOCOL):
        return RepositoryUnreachable(
            f"{what}: cannot reach a repository of {where}; check the network, the S3 "
            f"endpoint, its certificate and the keys. pgBackRest said: {detail}"
        )
    if exit_code == LOCK_ACQUIRE:
        return RepositoryLocked(
            f"{what}: another pgBackRest process holds the lock of {where} (a backup or "
            f"expire still running?); wait for it to finish. pgBackRest said: {detail}"
        )
    if exit_code == DB_CONNECT:
        return DatabaseUnreachable(
            f"{what}: pgBackRest cannot connect to the PostgreSQL cluster of {where}; is "
            f"it running, and are the set's pg_port and pg_socket_path right? "
            f"pgBackRest said: {detail}"
        )
    if exit_code in (ARCHIVE_TIMEOUT, ARCHIVE_COMMAND_INVALID, ARCHIVE_DISABLED):
        return ArchivingBroken(
            f"{what}: PostgreSQL's WAL does not reach the archive of {where}: check "
            f"archive_mode and archive_command (`dr backup init` prints them) and the "
            f"PostgreSQL log. pgBackRest said: {detail}"
        )
    if exit_code in (PG_RUNNING, PATH_NOT_EMPTY):
        return RestoreRefused(
            f"{what}: refused: {detail}. Stop PostgreSQL there, or restore into an empty "
            "directory (or ask for a delta restore, which overwrites what differs)"
        )
    if exit_code in (FILE_INVALID, ARCHIVE_MISMATCH, BACKUP_MISMATCH, DB_MISMATCH):
        return PgBackRestFailed(
            f"{what}: {where} holds another database cluster's backups (system id or "
            f"version differ); check the set's pg_path and stanza. pgBackRest said: {detail}"
        )
    if exit_code == STOP:
        return PgBackRestFailed(
            f"{what}: pgBackRest was stopped for {where} (`pgbackrest stop`); run "
            f"`pgbackrest start` with the set's config once the reason is gone. {detail}"
        )
    return PgBackRestFailed(f"{what} failed (pgBackRest error {exit_code}): {detail}")


def repository_problem(code: int, message: str, *, what: str, where: str) -> DrError | None:
    """The error a repository status of `info` stands for; None for a usable repository
    (0 ok, 2 no backups yet)."""
    if code in (0, 2):
        return None
    if code in _INFO_NO_STANZA:
        return classify(FILE_MISSING, _NO_STANZA, what=what, where=where)
    found = _INFO_ERROR_TYPE.match(message)
    kind = found.group(1) if found else ""
    if kind in ("FormatError", "CryptoError") and _INFO_FILE in message:
        return _wrong_pass(what, where)
    if kind in ("HostConnectError", "ServiceError", "ProtocolError"):
        return classify(HOST_CONNECT, message, what=what, where=where)
    return PgBackRestFailed(f"{what}: {where}: {printable(message)[:300]}")


def summary(stderr: str) -> str:
    """The ERROR line, its causes and HINTs, on one line; without a line that is mostly
    noise (what a wrong cipher pass decrypts a file into), and without repeats."""
    kept: list[str] = []
    for raw in stderr.strip().splitlines():
        line = raw.strip()
        if not _CAUSE.match(line) or _noisy(line) or printable(line) in kept:
            continue
        kept.append(printable(line)[:300])
    return " | ".join(kept[:8]) or printable(stderr.strip())[-300:] or "(no message)"


def printable(text: str) -> str:
    return "".join(c if c.isprintable() and c != "\ufffd" else "?" for c in text)


def _noisy(line: str) -> bool:
    odd = sum(1 for c in line if not c.isprintable() or c == "\ufffd")
    return odd * 20 > len(line)


def _wrong_pass(what: str, where: str) -> DrError:
    return WrongRepositoryPassword(
        f"{what}: a repository of {where} cannot be read with the cipher pass given: "
        "check that the set's cipher_pass reference (or the repository's own) points at "
        "this repository's pass"
    )
