"""`dr backup find-clean SET` for a `postgres-pitr` set: the newest base backup whose every
file is in its repository and matches its checksum, in each repository.

pgBackRest 2.45's `verify` has no `--set` (one backup only): one verify per repository
reports every backup's state, and the base backups are then taken newest first (only
those that ended before `before`, when given) until one is valid. Each one rejected is
named with what verify found. Damage to the WAL archive is reported beside the answer:
a restore replays WAL from the backup on, so damaged WAL after the clean backup limits
how far a restore can go. What a backup holds is the database as it was; to recover to
before a logical attack, restore with a target time (`dr drill restore-database -p to=`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from backups.find_clean import CLEAN, REJECTED, Candidate, FindCleanResult
from backups.pgbackrest.check import VerifyResult
from backups.pgbackrest.info import BaseBackup
from backups.pitr.context import PitrContext
from orchestrator.errors import DrError


def find_clean(
    ctx: PitrContext, *, before: datetime | None = None, repository: int | None = None
) -> FindCleanResult:
    bset = ctx.backup_set
    result = FindCleanResult(bset.name, bset.kind, _iso(before), _now())
    session = ctx.session()
    limit = bset.timeouts.other
    stanza = session.info(limit)
    count = len(session.settings.repositories)
    numbers = [repository] if repository is not None else list(range(1, count + 1))
    for number in numbers:
        backups = [b for b in stanza.backups_in(number) if before is None or b.stop < before]
        if not backups:
            result.notes.append(
                f"repo{number}: no base backup" + (" before that time" if before else "")
            )
            continue
        try:
            verified = session.verify(number, limit)
        except DrError as err:
            result.notes.append(f"repo{number}: verify failed: {err.message}")
            continue
        clean = _walk(result, verified, number, list(reversed(backups)))
        if clean is not None and (result.clean is None or clean.time > result.clean.time):
            result.clean = clean
        result.notes += [f"WAL: {line}" for line in verified.findings() if ": archive " in line]
    ctx.record("backup.find_clean", result.to_dict())
    return result


def _walk(
    result: FindCleanResult,
    verified: VerifyResult,
    number: int,
    newest_first: list[BaseBackup],
) -> Candidate | None:
    states = {item.name: item for item in verified.items if item.kind == "backup"}
    for backup in newest_first:
        candidate = Candidate(backup.label, backup.stop.isoformat(), REJECTED, repository=number)
        item = states.get(backup.label)
        # A differential backup is restored with the files it shares with its full one.
        broken = [r for r in backup.references if r in states and not states[r].ok]
        if item is None:
            candidate.reasons.append("verify did not report this backup")
        elif not item.ok:
            problems = ", ".join(f"{k} {v}" for k, v in item.problems.items() if v)
            candidate.reasons.append(
                f"{item.status}: {item.valid} of {item.checked} files valid"
                + (f" ({problems})" if problems else "")
            )
        if broken:
            candidate.reasons.append(f"it needs files of {', '.join(broken)}, which is invalid")
        if not candidate.reasons:
            candidate.verdict = CLEAN
        result.candidates.append(candidate)
        if candidate.verdict == CLEAN:
            return candidate
    return None


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
