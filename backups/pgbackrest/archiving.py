"""The commands PostgreSQL itself runs: archive-push (archive_command) and archive-get
(restore_command), and the server settings that turn archiving on.

PostgreSQL runs them through /bin/sh as its own account. pgBackRest needs the cipher
pass and S3 keys there too, and they must not be written into postgresql.conf or the
pgBackRest config: so each command reads them at the moment it runs from where the
inventory says they live, into the variables pgBackRest reads:

    PGBACKREST_REPO1_CIPHER_PASS="$(cat /etc/dr/pgbackrest.pass)" ... pgbackrest ...

A `file:` secret must be readable by PostgreSQL's account; an `env:` secret must be in
the PostgreSQL server's environment (its systemd unit's Environment=, for one). Either
way no secret is ever an argument of a process, and the settings hold only its name.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from orchestrator.postgresql.cluster_files import conf_string


@dataclass(frozen=True)
class SecretSource:
    """Where a shell finds a secret: a file it may read, or a variable it inherited."""

    kind: Literal["env", "file"]
    target: str

    def shell(self) -> str:
        if self.kind == "file":
            return f'"$(cat {shlex.quote(self.target)})"'
        return '"${' + self.target + '}"'


def with_secrets(command: list[str], secrets: Mapping[str, SecretSource]) -> str:
    """`command` as one shell line, each variable of `secrets` assigned for it alone."""
    assignments = [f"{name}={source.shell()}" for name, source in sorted(secrets.items())]
    return " ".join([*assignments, shlex.join(command)])


def archive_push_command(
    program: str,
    config_file: str,
    stanza: str,
    secrets: Mapping[str, SecretSource],
    *,
    pg_path: str | None = None,
) -> str:
    """`pg_path`: the data directory of the cluster that runs this command, when it is
    not the configured pg1-path (archive-push finds the segment %p names from there)."""
    base = [program, f"--config={config_file}", f"--stanza={stanza}"]
    if pg_path is not None:
        base.append(f"--pg1-path={pg_path}")
    # %p is PostgreSQL's, replaced by the segment's path; it must stay unquoted text.
    return with_secrets([*base, "archive-push"], secrets) + " %p"


def archive_get_command(
    program: str,
    config_file: str,
    stanza: str,
    secrets: Mapping[str, SecretSource],
    *,
    pg_path: str | None = None,
) -> str:
    """`pg_path`: the data directory restored into, when it is not the configured one
    (archive-get refuses to serve a cluster elsewhere than its pg1-path)."""
    base = [program, f"--config={config_file}", f"--stanza={stanza}"]
    if pg_path is not None:
        base.append(f"--pg1-path={pg_path}")
    return with_secrets([*base, "archive-get"], secrets) + ' %f "%p"'


def postgresql_settings(archive_command: str, archive_timeout_seconds: int) -> dict[str, str]:
    """The settings, as written in postgresql.conf (strings quoted), that archive every
    WAL segment through pgBackRest and close one at least every archive_timeout."""
    return {
        "archive_mode": "on",
        "archive_command": conf_string(archive_command),
        "archive_timeout": conf_string(f"{archive_timeout_seconds}s"),
        "wal_level": "replica",
    }
