"""The lab's credit cluster archived for real, with production's own code.

`dr lab up` makes the lab's pair archive through pgBackRest exactly as the inventory's
`credit-pitr` set says (lab/lab_inventory.py): each host's PostgreSQL gets production's
archiving settings (`backups.pitr.settings.server_settings` for that host's cluster, so
a promoted dc-b archives from its own data directory), the stanza is created in both
repositories (`backups.pitr.init.init_set`), and a first full backup is taken
(`backups.pitr.run.run_backup`), so a fresh lab can be restored at once.

pgBackRest runs where `dr` runs (the root namespace, the repository-host layout); the
archive_command runs inside the host's namespace, as PostgreSQL's account, and reaches
the offsite repository through the S3 TLS front on the management bridge.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from typing import TYPE_CHECKING

from lab.errors import LabError
from lab.lab_inventory import PITR_SET
from lab.state import LabState

if TYPE_CHECKING:
    # Imported where used: `dr-lab-host` loads this module for every command a runbook
    # sends a lab host, and only a database start needs the inventory.
    from backups.pitr.context import PitrContext
    from orchestrator.inventory import Inventory, PitrBackupSet

# The secrets archive_command reads (`cat FILE`) as PostgreSQL's account.
ARCHIVE_SECRETS = ("pgbackrest_cipher_pass", "s3_access_key_id", "s3_secret_access_key")


def archive_settings(state: LabState, host: str) -> dict[str, str]:
    """postgresql.conf settings that archive `host`'s cluster into the set's repositories
    (empty for a host the set lists no cluster on)."""
    from backups.pitr.session import pgbackrest_program
    from backups.pitr.settings import server_settings

    inventory, bset = _set(state)
    if bset.cluster_on(host) is None:
        return {}
    return server_settings(inventory, bset, pgbackrest_program(), host)


def share_secrets(state: LabState) -> None:
    """Let PostgreSQL's account read the secrets its archive_command and restore_command
    need (as a production host's would): the secrets directory becomes searchable (its
    listing stays root's) and those files PostgreSQL's, still 0600."""
    account = _postgres_account()
    state.secrets.chmod(0o711)
    for name in ARCHIVE_SECRETS:
        path = state.secrets / name
        os.chown(path, account.pw_uid, account.pw_gid)
        path.chmod(0o600)


def create_stanza(state: LabState) -> None:
    """`dr backup init credit-pitr`: configuration, repositories, stanza; idempotent.
    Done as soon as the primary runs, so its very first WAL segments are archived."""
    from backups.pitr.init import init_set

    init_set(context(state))


def first_backup(state: LabState, progress: Callable[[str], None]) -> None:
    """A full backup into each repository, unless every one holds a backup already."""
    from backups.pitr.run import run_backup

    ctx = context(state)
    stanza = ctx.session().info(ctx.backup_set.timeouts.other)
    repositories = range(1, len(ctx.backup_set.repositories) + 1)
    if all(stanza.backups_in(index) for index in repositories):
        return
    progress("first full pgBackRest backup of the credit database (both repositories)")
    result = run_backup(ctx, kind="full")
    if result.status != "ok":
        raise LabError(
            "the lab's first pgBackRest backup failed: "
            + "; ".join(result.errors)
            + f"; see {state.pitr_dir / 'log'}"
        )


def context(state: LabState) -> PitrContext:
    """The credit-pitr set opened as `dr backup` opens it (no journal: the lab's own
    set-up is not an operator's backup run)."""
    from backups.pitr.context import PitrContext

    inventory, _ = _set(state)
    return PitrContext.for_set(inventory, PITR_SET)


def _set(state: LabState) -> tuple[Inventory, PitrBackupSet]:
    from orchestrator import inventory as model

    if not state.inventory_file.exists():
        raise LabError(f"{state.inventory_file} is missing; run `dr lab up`")
    loaded = model.load_inventory(state.inventory_file)
    bset = loaded.any_backup_set(PITR_SET)
    if not isinstance(bset, model.PitrBackupSet):
        raise LabError(f"{state.inventory_file}: {PITR_SET} is not a postgres-pitr set")
    return loaded, bset


def _postgres_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise LabError("the postgres account is missing; apt-get install postgresql") from None
