"""`dr backup check SET` for a `postgres-pitr` set: `pgbackrest check` (a WAL switch on
the cluster reaches every repository within pgBackRest's archive-timeout: archiving
works end to end), then `pgbackrest verify` of each repository (every WAL segment and
backup file is there and matches its checksum). Each part is reported on its own, so a
broken offsite repository does not hide a healthy local one, or the reverse.
"""

from __future__ import annotations

from typing import Any

from backups.locks import backup_set_lock
from backups.pitr.context import PitrContext
from orchestrator.errors import DrError


def check_set(
    ctx: PitrContext, *, archiving: bool = True, verify: bool = True, wait_seconds: float = 0
) -> dict[str, Any]:
    """Both parts by default; the scheduler runs `check` daily and `verify` weekly, each
    alone (`archiving` or `verify` False: that part is left out, and `parts` says so)."""
    bset = ctx.backup_set
    limit = bset.timeouts.other
    with backup_set_lock(bset.name, wait_seconds=wait_seconds):
        session = ctx.session()
        checked: dict[str, Any] | None = None
        if archiving:
            checked = {"ok": True, "error": None}
            try:
                session.check(limit)
            except DrError as err:
                checked = {"ok": False, "error": err.message}
        repositories = []
        for index, repository in enumerate(session.settings.repositories, start=1):
            if not verify:
                break
            entry: dict[str, Any] = {"repository": index, "location": repository.describe()}
            try:
                verified = session.verify(index, limit)
            except DrError as err:
                entry.update(ok=False, status="error", findings=[], error=err.message)
            else:
                entry.update(
                    ok=verified.ok, status=verified.status, findings=verified.findings(),
                    checked={item.kind + " " + item.name: item.checked for item in verified.items},
                    error=None,
                )  # fmt: skip
            repositories.append(entry)
        document = {
            "stanza": bset.stanza,
            "parts": [p for p, wanted in (("check", archiving), ("verify", verify)) if wanted],
            "ok": (checked is None or checked["ok"]) and all(r["ok"] for r in repositories),
            "archiving": checked,
            "repositories": repositories,
        }
        ctx.record("backup.checked", document)
    return document
