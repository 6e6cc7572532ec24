"""The restore test's scratch server: a restored data directory started on a free port,
replaying WAL from the archive up to the test's moment, then promoted.

It runs with our own access rules and settings (`LocalCluster`: peer login for us, our
port and socket, fsync off) whatever the production cluster's configuration was; a
Debian cluster keeps postgresql.conf outside its data directory, so an empty one is
written first. Hot standby is off: no query may run before the moment is reached, and
the server need not match the primary's connection and worker limits during replay.

PostgreSQL says in its log where replay stopped. Normally "recovery stopping before
commit of transaction N, time T": the first commit after the moment, not replayed. If
the archive holds no commit after the moment, replay runs out of WAL first, and
PostgreSQL 13+ refuses to promote ("recovery ended before configured recovery target
was reached"). Every archived commit then lies before the moment, so the copy at the
moment is the copy at the end of the archive: the target is dropped, the server started
again to replay to the end, and the record says so, with the last transaction's time.
"""

from __future__ import annotations

import pwd
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg2
from psycopg2.extensions import connection as PgConnection

from backups.pitr import files
from orchestrator.local_machine import find_free_port
from orchestrator.postgresql.errors import PostgresError
from orchestrator.postgresql.local_cluster import SUPERUSER, LocalCluster

TARGET, END_OF_ARCHIVE = "target", "end of archive"
VALIDATOR = "dr_validate"
SCRATCH_SETTINGS = {
    "hot_standby": "off",
    "archive_mode": "off",
    # The log is read for where replay stopped: its messages must be PostgreSQL's own.
    "lc_messages": "'C'",
}
_ENDED_EARLY = "recovery ended before configured recovery target was reached"
_STOPPING = re.compile(
    r"recovery stopping (?P<where>before|after) (?P<what>commit|abort) of transaction "
    r"(?P<xid>\d+), time (?P<time>[0-9: .+-]+)"
)
_LAST = re.compile(r"last completed transaction was at log time (?P<time>[0-9: .+-]+)")
_PID_STATUS_LINE = 7  # postmaster.pid's 8th line: starting, standby, ready, stopping


@dataclass(frozen=True)
class Recovery:
    reached: str  # TARGET or END_OF_ARCHIVE
    # The first transaction not replayed (TARGET), and the last one replayed.
    stopped_before: datetime | None
    last_transaction: datetime | None
    seconds: float
    detail: str

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        for key in ("stopped_before", "last_transaction"):
            value = getattr(self, key)
            document[key] = None if value is None else value.isoformat()
        return document


class RestoredCluster(LocalCluster):
    """`owner`: the account the restored files belong to (pgBackRest's, PostgreSQL's).

    It listens on its Unix socket only, and the validations run as `VALIDATOR`, a role
    that may only read (see `backups.restore.scratch_pg`). Its environment is ours:
    its restore_command reads `env:` secrets from it (`backups.pgbackrest.archiving`)."""

    def __init__(self, data_dir: Path, owner: pwd.struct_passwd) -> None:
        super().__init__(
            data_dir,
            port=find_free_port(),
            listen_address="",
            allowed_networks=[],
            name="dr-pitr-restore-test",
            extra_settings=SCRATCH_SETTINGS,
        )
        self._owner = owner
        self._log_offset = 0
        self.validator_password = secrets.token_urlsafe(18)

    def recover(self, timeout: float) -> Recovery:
        """Start the server, wait until it is promoted, and say where replay stopped."""
        began = time.monotonic()
        conf = self.data_dir / "postgresql.conf"
        if not conf.exists():
            files.write_private(conf, "", self._owner)
        self.init(fast=True)
        text = self._started(timeout)
        reached = TARGET
        if _ENDED_EARLY in text:
            reached = END_OF_ARCHIVE
            self._drop_target()
            text += self._started(max(1.0, timeout - (time.monotonic() - began)))
        stop = _STOPPING.search(text)
        last = [match["time"] for match in _LAST.finditer(text)]
        if stop is not None:
            detail = stop.group(0)
        else:
            detail = _ENDED_EARLY if reached == END_OF_ARCHIVE else "promoted"
        return Recovery(
            reached=reached,
            stopped_before=_time(stop["time"]) if stop and stop["where"] == "before" else None,
            last_transaction=_time(last[-1]) if last else None,
            seconds=round(time.monotonic() - began, 3),
            detail=detail,
        )

    def connect(self, database: str, *, validator: bool = False) -> PgConnection:
        """A session over the socket: as the superuser (peer: our own access rules), or
        as the read-only `VALIDATOR` (made by `add_validator`)."""
        if validator:
            return psycopg2.connect(
                host=str(self.socket_dir), port=self.port, user=VALIDATOR, dbname=database,
                password=self.validator_password, connect_timeout=10,
                application_name="dr-restore-test",
            )  # fmt: skip
        return psycopg2.connect(
            host=str(self.socket_dir), port=self.port, user=SUPERUSER, dbname=database,
            connect_timeout=10, application_name="dr-restore-test",
        )  # fmt: skip

    def add_validator(self) -> None:
        """The role the inventory's validation queries run as: it may read, nothing more."""
        self.create_role(VALIDATOR, self.validator_password)
        self.psql(f"GRANT pg_read_all_data TO {VALIDATOR};")

    # -- internals ----------------------------------------------------------------------

    def _started(self, timeout: float) -> str:
        """Start and wait for promotion; the log's new lines, also when it gave up."""
        self._log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        try:
            self.start(timeout=timeout)
        except PostgresError:
            text = self._new_log()
            if _ENDED_EARLY in text:
                return text
            raise
        return self._new_log()

    def _wait_ready(self, timeout: float) -> None:
        # pg_ctl returns once replay has begun when hot standby is off; ready means
        # promoted. Polling the pid file, not the socket, keeps the log free of a
        # "not accepting connections" line for every try during a long replay.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.postmaster_pid is None:
                raise PostgresError(f"the restored cluster stopped:\n{self._new_log()}")
            if self._pid_status() == "ready":
                return
            time.sleep(0.2)
        raise PostgresError(
            f"the restored cluster was not promoted within {timeout:.0f}s (still replaying "
            f"WAL); see {self.log_file}"
        )

    def _pid_status(self) -> str:
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return ""
        return lines[_PID_STATUS_LINE].strip() if len(lines) > _PID_STATUS_LINE else ""

    def _drop_target(self) -> None:
        auto = self.data_dir / "postgresql.auto.conf"
        kept = [
            line
            for line in auto.read_text().splitlines()
            if not line.strip().startswith("recovery_target")
        ]
        files.write_private(auto, "\n".join(kept) + "\n", self._owner)

    def _new_log(self) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(self._log_offset)
                return handle.read().decode("utf-8", errors="replace")
        except OSError:
            return ""


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip())
