"""`restic restore SNAPSHOT --target DIR`: build; pick the errors out of its output.

0.14 has no `restore --json` (see features.JSON_RESTORE), and none of our uses needs its
progress, so the text is read in every version. restic verifies every blob's MAC while
restoring: a damaged pack makes it print "ignoring error for PATH: ciphertext
verification failed", carry on with the other files, and exit 1 at the end ("Fatal:
There were N errors"). Those lines are the exact cause a restore test must report.
"""

from __future__ import annotations

from backups.restic.errors import EXIT_FAILED


def build_restore(snapshot_id: str, target: str) -> list[str]:
    # --no-cache: restic keeps tree packs in a local cache, and a restore test must read
    # what the repository holds, not a copy of it that rot in the repository cannot reach.
    return ["restore", "--no-cache", "--target", target, "--", snapshot_id]


def parse_restore_errors(stderr: str) -> list[str]:
    """The per-file errors and restic's final verdict, in order."""
    found = []
    for line in stderr.splitlines():
        text = line.strip()
        if text.startswith(("ignoring error for ", "Fatal: ")):
            found.append(text)
    return found


def found_damage(exit_code: int, stderr: str) -> bool:
    """Whether a failed restore failed on the data (per-file errors) rather than on
    reaching the repository, which the usual classification explains better."""
    return exit_code == EXIT_FAILED and any(
        line.startswith("ignoring error for ") for line in parse_restore_errors(stderr)
    )
