"""What the scheduler runs for a `postgres-pitr` set: its base backups, `pgbackrest check`
(daily), `pgbackrest verify` (weekly) and the point-in-time restore test (monthly).

Like the restic set's jobs (`jobs`), each is stored by reference with the set's name,
gets its daemon's environment at run time, runs under its job's lease (one run at a
time across daemons), journals what it did and rewrites the textfile when done. The
jobs of one set also share the set's lock (a restore test must not see its base backup
expired by a backup's expire): a job finding it held waits for it, at most
`scheduler.misfire_grace`, the lateness after which a missed run is skipped anyway.

The backup job fires on the union of the set's full and differential schedules and
takes the kind whose schedule fired last (`backups.pitr.schedule.choose_type`; a full
wins a tie), so a Sunday on which both fire makes one backup, not two.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.errors import DrError
from orchestrator.scheduler.job_alerts import reported
from orchestrator.scheduler.jobs import JobEnvironment, export_quietly, given_env

log = logging.getLogger(__name__)

PITR_BACKUP = "orchestrator.scheduler.pitr_jobs:backup"
PITR_CHECK = "orchestrator.scheduler.pitr_jobs:check"
PITR_VERIFY = "orchestrator.scheduler.pitr_jobs:verify"
PITR_RESTORE_TEST = "orchestrator.scheduler.pitr_jobs:restore_test"


def backup(set_name: str, *, env: JobEnvironment | None = None) -> str:
    from backups.pitr.context import PitrContext
    from backups.pitr.run import run_backup

    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    try:
        with reported(journal, inventory, f"backup:{set_name}", "backup", set_name) as run:
            try:
                ctx = PitrContext.for_set(inventory, set_name, journal=journal)
                result = run_backup(ctx, wait_seconds=inventory.scheduler.misfire_grace)
            except DrError as err:
                log.error("backup of %s failed: %s", set_name, err.message)
                run.failed(err.message)
                return "failed"
            ok = result.status == "ok"
            status = result.status if ok else f"{result.status}: {result.errors}"
            log.info("%s backup of %s: %s", result.type, set_name, status)
            run.done(ok, "" if ok else status)  # partial: a repository went without
            return result.status
    finally:
        export_quietly(inventory, journal, env)
        journal.close()


def check(set_name: str, *, env: JobEnvironment | None = None) -> bool:
    """`pgbackrest check`: a WAL switch reaches every repository."""
    return _check(set_name, env, archiving=True)


def verify(set_name: str, *, env: JobEnvironment | None = None) -> bool:
    """`pgbackrest verify` of each repository: every file there and sound."""
    return _check(set_name, env, archiving=False)


def restore_test(set_name: str, *, env: JobEnvironment | None = None) -> Any:
    from backups.pitr.context import PitrContext
    from backups.pitr.restore_test import restore_test as run_restore_test

    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    job_id = f"restore-test:{set_name}"
    try:
        with reported(journal, inventory, job_id, "restore-test", set_name) as run:
            ctx = PitrContext.for_set(inventory, set_name, journal=journal)
            record = run_restore_test(ctx, wait_seconds=inventory.scheduler.misfire_grace)
            if record.problems:
                log.error("restore test of %s failed: %s", set_name, record.cause)
            else:
                log.info("restore test of %s passed (moment %s)", set_name, record.snapshot_time)
            run.done(not record.problems, record.cause or "")
            return record.outcome
    finally:
        export_quietly(inventory, journal, env)
        journal.close()


def _check(set_name: str, env: JobEnvironment | None, *, archiving: bool) -> bool:
    from backups.pitr.check import check_set
    from backups.pitr.context import PitrContext

    env = given_env(env)
    inventory, journal = env.inventory(), env.journal()
    part = "check" if archiving else "verify"
    what = f"pgbackrest {part}"
    try:
        with reported(journal, inventory, f"{part}:{set_name}", part, set_name) as run:
            try:
                ctx = PitrContext.for_set(inventory, set_name, journal=journal)
                document = check_set(
                    ctx, archiving=archiving, verify=not archiving,
                    wait_seconds=inventory.scheduler.misfire_grace,
                )  # fmt: skip
            except DrError as err:
                log.error("%s of %s failed: %s", what, set_name, err.message)
                # Recorded like a check that found problems, so that the textfile shows it.
                data = {"backup_set": set_name, "kind": "postgres-pitr", "parts": [part],
                        "ok": False, "archiving": None, "repositories": [],
                        "error": err.message}  # fmt: skip
                journal.append("backup.checked", data=data)
                run.failed(err.message)
                return False
            findings = _findings(document, archiving)
            if document["ok"]:
                log.info("%s of %s: ok", what, set_name)
            else:
                log.error("%s of %s found problems: %s", what, set_name, findings)
            run.done(bool(document["ok"]), findings)
            return bool(document["ok"])
    finally:
        export_quietly(inventory, journal, env)
        journal.close()


def _findings(document: dict[str, Any], archiving: bool) -> str:
    if document["ok"]:
        return ""
    found = [document["archiving"]["error"]] if archiving else []
    for repo in document["repositories"]:
        found += repo["findings"] + ([repo["error"]] if repo["error"] else [])
    return "; ".join(map(str, found))
