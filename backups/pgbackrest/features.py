"""Which pgBackRest features we use, by the first version that has them.

Debian 12 ships pgBackRest 2.45. Like `backups.restic.features`, every use of a feature
newer than the minimum asks `has()` and keeps a fallback, so one table decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from orchestrator.errors import PgBackRestNotInstalled


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}" + (f".{self.patch}" if self.patch else "")


class Feature(Enum):
    # `verify --output=text --verbose`: before it, verify's findings went to the log only.
    VERIFY_OUTPUT = "verify-output"
    # `repo-bundle`: small files combined into bundles (far fewer objects on S3).
    REPO_BUNDLE = "repo-bundle"
    # `backup --annotation KEY=VALUE`, shown by `info`: how a run finds its own backup.
    BACKUP_ANNOTATION = "backup-annotation"


# Several repositories in one stanza (repo1 on the backup host, repo2 offsite).
MINIMUM = Version(2, 33)

FEATURES: dict[Feature, Version] = {
    Feature.VERIFY_OUTPUT: Version(2, 39),
    Feature.REPO_BUNDLE: Version(2, 39),
    Feature.BACKUP_ANNOTATION: Version(2, 41),
}

_VERSION_LINE = re.compile(r"^pgBackRest (\d+)\.(\d+)(?:\.(\d+))?")


def has(version: Version, feature: Feature) -> bool:
    return version >= FEATURES[feature]


def build_version() -> list[str]:
    return ["version"]


def parse_version(output: str) -> Version:
    """Parse `pgbackrest version` ("pgBackRest 2.45")."""
    match = _VERSION_LINE.match(output.strip())
    if match is None:
        raise PgBackRestNotInstalled(
            f"cannot tell pgBackRest's version from {output.strip()[:80]!r}; "
            "install pgBackRest 2.33 or newer (apt-get install pgbackrest)"
        )
    major, minor, patch = match.groups()
    version = Version(int(major), int(minor), int(patch or 0))
    if version < MINIMUM:
        raise PgBackRestNotInstalled(
            f"pgBackRest {version} is too old; dr needs {MINIMUM} or newer (several "
            "repositories per stanza)"
        )
    return version
