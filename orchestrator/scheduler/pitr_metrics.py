"""The textfile's figures that a `postgres-pitr` set's repositories give: whether each can
be read and how old its newest archived WAL is (its RPO clock), and for the set as a
whole the youngest of them (the recovery point a restore would reach now)."""

from __future__ import annotations

import logging
from datetime import datetime

from orchestrator.errors import DrError
from orchestrator.inventory import Inventory, PitrBackupSet

log = logging.getLogger(__name__)


def archive_ages(
    inventory: Inventory,
    bset: PitrBackupSet,
    now: datetime,
    values: dict[str, float],
    repositories: dict[int, dict[str, float]],
) -> None:
    # Imported here: a scheduler with restic sets only never loads pgBackRest's layer.
    from backups.pitr.context import PitrContext
    from backups.pitr.watchdog import freshness

    try:
        found = freshness(PitrContext.for_set(inventory, bset.name), now=now)
    except DrError as err:
        log.warning("backup set %s: archive not readable for metrics: %s", bset.name, err.message)
        values["dr_backup_repository_up"] = 0
        return
    ages = []
    for repository in found:
        readable = repository.age_seconds is not None
        figures = {"dr_pitr_repository_up": 1.0 if readable else 0.0}
        if repository.age_seconds is not None:
            figures["dr_pitr_newest_wal_age_seconds"] = round(repository.age_seconds, 3)
            ages.append(repository.age_seconds)
        repositories[repository.repository] = figures
    values["dr_backup_repository_up"] = 1 if found and len(ages) == len(found) else 0
    if ages:
        values["dr_backup_newest_snapshot_age_seconds"] = round(min(ages), 3)
