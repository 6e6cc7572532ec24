"""The drill lab's PostgreSQL servers: a local cluster that also streams, rewinds and promotes.

`LocalCluster` (orchestrator/postgresql) creates, starts, stops and administers a
cluster; this adds the replication half the lab's primary/standby pair needs: a
standby made with pg_basebackup -R, pg_rewind and rebuild of an old primary, promotion,
and the status a primary and a standby report. A standby reads its replication password
from a 0600 PGPASSFILE in its state directory.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta

from psycopg2 import sql

from lab.errors import LabError
from orchestrator.postgresql.local_cluster import SUPERUSER, Endpoint, LocalCluster, execute

__all__ = ["SUPERUSER", "Endpoint", "PostgresLabError", "PostgresServer"]


class PostgresLabError(LabError):
    """A lab server could not be made a standby, rewound, rebuilt or promoted."""


@dataclass(frozen=True)
class ReplicaStatus:
    """One standby as its primary sees it (a row of pg_stat_replication)."""

    application_name: str
    client_addr: str | None
    state: str
    sent_lsn: str | None
    replay_lsn: str | None
    replay_lag: timedelta | None
    sync_state: str


@dataclass(frozen=True)
class StandbyStatus:
    """How far a standby has got, as it sees it itself."""

    in_recovery: bool
    receive_lsn: str | None
    replay_lsn: str | None
    last_replay_timestamp: datetime | None
    replay_lag: timedelta | None


class PostgresServer(LocalCluster):
    """A lab cluster that can be a primary or a streaming standby."""

    # ----- streaming replication -------------------------------------------------------

    def init_standby_from(
        self,
        primary: PostgresServer | Endpoint,
        replication_user: str,
        password: str,
        *,
        slot: str | None = None,
        timeout: float = 600,
    ) -> None:
        """Make this (empty) server a streaming standby of ``primary`` with pg_basebackup -R.

        Safe to repeat on an existing standby; refuses to overwrite any other cluster.
        ``slot`` creates a replication slot on the primary, so it keeps the WAL this
        standby still needs (at the price of disk while the standby is down).
        """
        source = primary.endpoint if isinstance(primary, PostgresServer) else primary
        self._prepare_dirs()
        self._write_passfile(source, replication_user, password)
        if self._initialized:
            if not self.is_standby:
                raise PostgresLabError(
                    f"{self.data_dir} already holds a cluster that is not a standby; "
                    "remove it first if it really is to be replaced by a copy of the primary"
                )
            self._write_access_rules()
            return
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise PostgresLabError(
                f"{self.data_dir} is not empty and holds no cluster; "
                "empty or remove it before making a standby there"
            )
        self._base_backup(source, replication_user, slot=slot, timeout=timeout)

    def _base_backup(
        self, source: Endpoint, replication_user: str, *, slot: str | None, timeout: float
    ) -> None:
        """pg_basebackup -R of ``source`` into the (empty or absent) data directory."""
        result = self._run(
            self._program("pg_basebackup"),
            *("-D", str(self.data_dir), "-h", source.host, "-p", str(source.port)),
            *("-U", replication_user, "--no-password", "--write-recovery-conf"),
            *("--wal-method=stream", "--checkpoint=fast"),
            *(("--create-slot", f"--slot={slot}") if slot else ()),
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            # Only our own partial copy goes: the directory was empty or absent before.
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise PostgresLabError(
                f"could not copy {source.host}:{source.port} into a standby at "
                f"{self.data_dir}: {result.stderr.strip()}"
            )
        # The copy brought the primary's pg_hba.conf; this server has its own networks.
        self._write_access_rules()
        self._write_instance_config()

    # ----- turning an old primary into a standby (rebuild-standby) -----------------------

    def checkpoint(self) -> None:
        """CHECKPOINT now: a just-promoted primary records its new timeline in its control
        file only at its next checkpoint, and pg_rewind reads the timeline from there."""
        self._query("CHECKPOINT")

    def control_data(self) -> str:
        """pg_controldata's report (cluster state, latest checkpoint); works while stopped."""
        return self._run(self._program("pg_controldata"), "-D", str(self.data_dir)).stdout

    def store_upstream_password(self, pgpass_line: str) -> None:
        """Keep the one .pgpass line this server's standby connections (walreceiver,
        pg_rewind, pg_basebackup) read their password from; 0600, the service account's."""
        self._prepare_dirs()
        self._write_private(self.passfile, pgpass_line.strip("\n") + "\n")

    def rewind_from(self, source: Endpoint, replication_user: str, timeout: float = 600) -> str:
        """pg_rewind this stopped cluster onto ``source``'s timeline and make it a standby
        of ``source`` (-R); returns pg_rewind's report. Raises when rewind is impossible
        (no cluster here, no common history, WAL gone): then `rebuild_from` is the way."""
        if self.is_running:
            raise PostgresLabError(f"PostgreSQL {self.name} runs; stop it before pg_rewind")
        conninfo = f"host={source.host} port={source.port} user={replication_user} dbname=postgres"
        result = self._run(
            self._program("pg_rewind"),
            *("-D", str(self.data_dir), f"--source-server={conninfo}"),
            *("--write-recovery-conf", "--progress"),
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresLabError(
                f"pg_rewind of {self.name} from {source.host}:{source.port} failed: "
                f"{result.stderr.strip()}"
            )
        # pg_rewind copied the source's configuration files along with its data.
        self._write_access_rules()
        self._write_instance_config()
        return result.stderr.strip()

    def rebuild_from(self, source: Endpoint, replication_user: str, timeout: float = 600) -> None:
        """Replace this stopped cluster by a base backup of ``source`` (a standby of it).

        The old data directory is kept as ``data.before-rebuild`` (one generation) until
        the next rebuild: an old primary's data is evidence, not rubbish.
        """
        if self.is_running:
            raise PostgresLabError(f"PostgreSQL {self.name} runs; stop it before a rebuild")
        self._prepare_dirs()
        kept = self.data_dir.with_name(f"{self.data_dir.name}.before-rebuild")
        shutil.rmtree(kept, ignore_errors=True)
        if self.data_dir.exists():
            self.data_dir.rename(kept)
        self._base_backup(source, replication_user, slot=None, timeout=timeout)

    @property
    def is_standby(self) -> bool:
        return (self.data_dir / "standby.signal").exists()

    def promote(self, timeout: float = 60) -> None:
        """Turn this standby into a writable primary; no-op if it already is one."""
        if not self.is_standby:
            return
        if not self.is_running:
            raise PostgresLabError(f"standby {self.name} is not running; start it to promote it")
        self._run(
            self._program("pg_ctl"),
            *("promote", "-D", str(self.data_dir), "-w", "-t", str(max(1, math.ceil(timeout)))),
            timeout=timeout + 10,
        )

    def replication_status(self) -> list[ReplicaStatus]:
        """The standbys streaming from this primary right now."""
        rows = self._query(
            "SELECT application_name, host(client_addr), state, sent_lsn::text,"
            " replay_lsn::text, replay_lag, sync_state"
            " FROM pg_stat_replication ORDER BY application_name, pid"
        )
        return [ReplicaStatus(*row) for row in rows]

    def standby_status(self) -> StandbyStatus:
        """What this standby has received and replayed.

        The lag is zero once everything received is replayed: an idle primary must not
        look like a lagging standby. Otherwise it is the age of the last replayed commit.
        """
        rows = self._query(
            "SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text,"
            " pg_last_wal_replay_lsn()::text, pg_last_xact_replay_timestamp(),"
            " CASE WHEN NOT pg_is_in_recovery() THEN NULL"
            "  WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN interval '0'"
            "  ELSE greatest(interval '0', now() - pg_last_xact_replay_timestamp()) END"
        )
        return StandbyStatus(*rows[0])

    def replay_lag(self) -> timedelta | None:
        """How far replay trails what was received (None: nothing replayed yet)."""
        status = self.standby_status()
        if not status.in_recovery:
            raise PostgresLabError(f"{self.name} is not a standby (it is not in recovery)")
        return status.replay_lag

    def last_replay_timestamp(self) -> datetime | None:
        """Commit time of the last transaction replayed; kept after promotion (for RPO)."""
        return self.standby_status().last_replay_timestamp

    def allow_rewind(self, role: str) -> None:
        """Let ``role`` be pg_rewind's source connection without being a superuser.

        pg_rewind reads the source's files through these four functions; granting them
        (as PostgreSQL's pg_rewind page describes) lets the replication role serve both
        rewind and base backup when an old primary is turned into a standby.
        """
        functions = (
            "pg_ls_dir(text, boolean, boolean)",
            "pg_stat_file(text, boolean)",
            "pg_read_binary_file(text)",
            "pg_read_binary_file(text, bigint, bigint, boolean)",
        )
        with self._connect() as conn:
            for function in functions:
                statement = sql.SQL("GRANT EXECUTE ON FUNCTION pg_catalog.{} TO {}").format(
                    sql.SQL(function), sql.Identifier(role)
                )
                execute(conn, statement)

    def _write_passfile(self, source: Endpoint, user: str, password: str) -> None:
        # pg_basebackup -R records passfile=... (not the password) in primary_conninfo,
        # and the standby's walreceiver reads the password from here ever after.
        fields = [source.host, str(source.port), "replication", user, password]
        escaped = [field.replace("\\", "\\\\").replace(":", "\\:") for field in fields]
        self._write_private(self.passfile, ":".join(escaped) + "\n")
