"""Which restic features we use, by the first version that has them.

Debian 12 ships restic 0.14; newer installations have more. Every use of a newer feature
asks `has()` and keeps a fallback for older versions, so one table decides, like
borgmatic's feature.py does for borg.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from orchestrator.errors import ResticNotInstalled


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


class Feature(Enum):
    # Exit code 10 for "repository does not exist", 11 for "failed to lock".
    EXIT_CODES_REPOSITORY = "exit-codes-repository"
    # Exit code 12 for "wrong password" came one patch release later.
    EXIT_CODE_WRONG_PASSWORD = "exit-code-wrong-password"
    # `restore --json` status lines (for the restore test's progress).
    JSON_RESTORE = "json-restore"
    # `check --json` summary; before it, check's text output is all there is.
    JSON_CHECK = "json-check"


MINIMUM = Version(0, 14, 0)

FEATURES: dict[Feature, Version] = {
    Feature.JSON_RESTORE: Version(0, 16, 0),
    Feature.EXIT_CODES_REPOSITORY: Version(0, 17, 0),
    Feature.EXIT_CODE_WRONG_PASSWORD: Version(0, 17, 1),
    Feature.JSON_CHECK: Version(0, 18, 0),
}

_VERSION_LINE = re.compile(r"^restic (\d+)\.(\d+)\.(\d+)")


def has(version: Version, feature: Feature) -> bool:
    return version >= FEATURES[feature]


def build_version() -> list[str]:
    # Plain text on purpose: `version --json` exists only from 0.17 on.
    return ["version"]


def parse_version(output: str) -> Version:
    """Parse `restic version` ("restic 0.14.0 compiled with go1.19.8 on linux/amd64")."""
    match = _VERSION_LINE.match(output.strip())
    if match is None:
        raise ResticNotInstalled(
            f"cannot tell restic's version from {output.strip()[:80]!r}; "
            "install restic 0.14 or newer (apt-get install restic)"
        )
    version = Version(*(int(part) for part in match.groups()))
    if version < MINIMUM:
        raise ResticNotInstalled(f"restic {version} is too old; dr needs restic {MINIMUM} or newer")
    return version
