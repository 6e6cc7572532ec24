"""What went wrong when restic exits non-zero, as one of our exceptions.

restic 0.17 and later say it with the exit code (10 no repository, 11 locked, 12 wrong
password); 0.14 exits 1 for all of them, so there we read stderr. The stderr patterns
below were taken from real 0.14 runs (tests/unit/test_restic_parsing.py holds them).
Network trouble is looked for first: an unreachable S3 endpoint also prints "Is there a
repository at the following location?", and calling that "no repository" would send an
operator to run `init` against a repository that is merely offline.
"""

from __future__ import annotations

from backups.restic.features import Feature, Version, has
from orchestrator.errors import (
    DrError,
    RepositoryLocked,
    RepositoryNotFound,
    RepositoryUnreachable,
    ResticFailed,
    WrongRepositoryPassword,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3  # backup: snapshot made, but some source files could not be read
EXIT_NO_REPOSITORY = 10
EXIT_LOCKED = 11
EXIT_WRONG_PASSWORD = 12

_NETWORK = (
    "connection refused",
    "no route to host",
    "network is unreachable",
    "i/o timeout",
    "no such host",
    "connection reset",
    "unable to start the sftp session",
    "host key verification failed",
    "permission denied (publickey",
    "ssh: connect to host",
    "tls: ",
    "x509: ",
)
_LOCKED = ("repository is already locked", "unable to create lock in backend")
_WRONG_PASSWORD = ("wrong password or no key found",)
_NO_REPOSITORY = (
    "is there a repository at the following location?",
    "repository does not exist",
    "the specified bucket does not exist",
)


def classify(exit_code: int, stderr: str, version: Version, *, what: str, location: str) -> DrError:
    """The exception for a failed restic command. `stderr` must already be masked."""
    kind = _by_exit_code(exit_code, version) or _by_stderr(stderr)
    detail = _last_lines(stderr)
    if kind is RepositoryNotFound:
        return RepositoryNotFound(
            f"{what}: there is no restic repository at {location}. If this backup set is "
            f"new, create it with `dr backup init`; otherwise the repository is lost or the "
            f"location is wrong: check the inventory. restic said: {detail}"
        )
    if kind is WrongRepositoryPassword:
        return WrongRepositoryPassword(
            f"{what}: the repository at {location} rejects the password; check the set's "
            "'password' reference points at this repository's password"
        )
    if kind is RepositoryLocked:
        return RepositoryLocked(f"{what}: the repository at {location} is locked: {detail}")
    if kind is RepositoryUnreachable:
        return RepositoryUnreachable(
            f"{what}: cannot reach the repository at {location}; check the network, the "
            f"server and its credentials. restic said: {detail}"
        )
    return ResticFailed(f"{what} failed (restic exit code {exit_code}): {detail}")


def _by_exit_code(exit_code: int, version: Version) -> type[DrError] | None:
    if has(version, Feature.EXIT_CODES_REPOSITORY):
        if exit_code == EXIT_NO_REPOSITORY:
            return RepositoryNotFound
        if exit_code == EXIT_LOCKED:
            return RepositoryLocked
    if has(version, Feature.EXIT_CODE_WRONG_PASSWORD) and exit_code == EXIT_WRONG_PASSWORD:
        return WrongRepositoryPassword
    return None


def _by_stderr(stderr: str) -> type[DrError] | None:
    text = stderr.lower()
    table: list[tuple[tuple[str, ...], type[DrError]]] = [
        (_NETWORK, RepositoryUnreachable),
        (_WRONG_PASSWORD, WrongRepositoryPassword),
        (_LOCKED, RepositoryLocked),
        (_NO_REPOSITORY, RepositoryNotFound),
    ]
    for needles, kind in table:
        if any(needle in text for needle in needles):
            return kind
    return None


def _last_lines(stderr: str, count: int = 4) -> str:
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    # JSON progress never goes to stderr, but error objects do; keep them short.
    return " | ".join(line[:300] for line in lines[-count:]) or "(no message)"
