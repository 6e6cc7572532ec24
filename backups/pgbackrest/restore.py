"""`restore`: a base backup into a data directory, and the recovery settings that replay
WAL from the archive up to a target.

Targets (`--type`): `default` replays all WAL there is (latest), `immediate` stops as
soon as the backup is consistent, `time`/`lsn`/`xid` stop at that point (`--target`);
`exclusive` stops just before it instead of just after. At the target the server is
promoted (`--target-action=promote`) unless told to pause or shut down. The restored
cluster archives nothing by default (`--archive-mode=off`): a copy restored beside the
live cluster must not push a new timeline into the live cluster's archive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

RecoveryType = Literal["default", "immediate", "time", "lsn", "xid"]
TargetAction = Literal["promote", "pause", "shutdown"]
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")


@dataclass(frozen=True)
class RecoveryTarget:
    type: RecoveryType = "default"
    target: str | None = None
    exclusive: bool = False

    @classmethod
    def latest(cls) -> RecoveryTarget:
        return cls("default")

    @classmethod
    def immediate(cls) -> RecoveryTarget:
        return cls("immediate")

    @classmethod
    def at_time(cls, moment: datetime, *, exclusive: bool = False) -> RecoveryTarget:
        if moment.tzinfo is None:
            raise ValueError("a recovery time needs its time zone (an aware datetime)")
        return cls("time", moment.isoformat(sep=" "), exclusive)

    @classmethod
    def at_lsn(cls, lsn: str, *, exclusive: bool = False) -> RecoveryTarget:
        if not _LSN.match(lsn):
            raise ValueError(f"{lsn!r} is not an LSN (e.g. 0/3000060)")
        return cls("lsn", lsn.upper(), exclusive)

    @classmethod
    def at_xid(cls, xid: int | str, *, exclusive: bool = False) -> RecoveryTarget:
        if not str(xid).isdigit():
            raise ValueError(f"{xid!r} is not a transaction id")
        return cls("xid", str(xid), exclusive)

    def describe(self) -> str:
        if self.type == "default":
            return "the end of the archived WAL (latest)"
        if self.type == "immediate":
            return "the end of the base backup (consistent, nothing replayed beyond it)"
        where = "just before" if self.exclusive else "just after"
        return f"{where} {self.type} {self.target}"


def build_restore(
    target: RecoveryTarget,
    *,
    repository: int | None = None,
    backup_set: str | None = None,
    pg_path: str | None = None,
    delta: bool = False,
    target_action: TargetAction = "promote",
    archive_mode: Literal["off", "preserve"] = "off",
    restore_command: str | None = None,
) -> list[str]:
    """`backup_set` is a label (default: the newest that can reach the target);
    `pg_path` a data directory other than the configured one; `restore_command` the
    archive-get line with its secret sources (see archiving.archive_get_command)."""
    if (target.target is None) != (target.type in ("default", "immediate")):
        needs = "takes no" if target.target else "needs a"
        raise ValueError(f"a {target.type} recovery {needs} target")
    args = ["restore", f"--type={target.type}"]
    if target.target is not None:
        args.append(f"--target={target.target}")
        if target.exclusive:
            args.append("--target-exclusive")
    if target.type != "default":
        args.append(f"--target-action={target_action}")
    if repository is not None:
        args.append(f"--repo={repository}")
    if backup_set is not None:
        args.append(f"--set={backup_set}")
    if pg_path is not None:
        args.append(f"--pg1-path={pg_path}")
    if delta:
        args.append("--delta")
    args.append(f"--archive-mode={archive_mode}")
    if restore_command is not None:
        args.append(f"--recovery-option=restore_command={restore_command}")
    return args
