"""The drill lab's PostgreSQL servers: a local cluster that also streams, rewinds and promotes.

`LocalCluster` (orchestrator/postgresql) creates, starts, stops and administers a
cluster; this adds the replication half the lab's primary/standby pair needs: a
standby made with pg_basebackup -R, pg_rewind and rebuild of an old primary, promotion,
and the status a primary and a standby report. A standby reads its replication password
from a 0600 PGPASSFILE in its state directory.

What PostgreSQL knowledge this needs comes from production (orchestrator/postgresql:
status, replication, rewind, promote): the lab runs the same queries and the same
program arguments as a production host's default commands, so the runbooks' parsers
read the same text from both.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from psycopg2 import sql

from lab.errors import LabError
from orchestrator.local_machine import wait_until
from orchestrator.postgresql import cluster_files
from orchestrator.postgresql.local_cluster import SUPERUSER, Endpoint, LocalCluster, execute
from orchestrator.postgresql.old_timeline import read_only_options
from orchestrator.postgresql.promote import STANDBY_SIGNAL, build_promote
from orchestrator.postgresql.replication import (
    REPLICAS_SQL,
    SET_ASIDE_SUFFIX,
    Replica,
    Upstream,
    build_base_backup,
    parse_replicas,
    pgpass_line,
)
from orchestrator.postgresql.rewind import CHECKPOINT_SQL, build_rewind
from orchestrator.postgresql.status import (
    CONTROL_DATA_ENV,
    STATUS_SQL,
    DatabaseStatus,
    build_control_data,
    parse_status,
)

__all__ = ["SUPERUSER", "Endpoint", "PostgresLabError", "PostgresServer"]


# Where a standby whose stream the lab cut keeps its upstream connection string.
_SAVED_CONNINFO = "primary_conninfo.saved"


class PostgresLabError(LabError):
    """A lab server could not be made a standby, rewound, rebuilt or promoted."""


class PostgresServer(LocalCluster):
    """A lab cluster that can be a primary or a streaming standby.

    `archiving` gives this host's archiving settings (lab/pitr.py), asked for whenever
    the instance's own file `dr-instance.conf` is written: at every start, and after a
    base backup, a rewind or a restore brought another host's files. They belong to the
    host, not to the data: each host's archive_command names its own data directory.
    """

    def __init__(
        self, *args: Any, archiving: Callable[[], Mapping[str, str]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._archiving = archiving

    def _write_instance_config(self) -> None:
        super()._write_instance_config()
        settings = dict(self._archiving()) if self._archiving is not None else {}
        if settings:
            path = self.data_dir / "dr-instance.conf"
            ours = path.read_text(encoding="utf-8")
            extra = cluster_files.conf_file(settings).removeprefix(cluster_files.HEADER)
            self._write_private(path, f"{ours}# archiving (the lab's credit-pitr set)\n{extra}")

    @property
    def has_cluster(self) -> bool:
        """Whether a cluster lives in the data directory (initdb'd, copied or restored)."""
        return (self.data_dir / "PG_VERSION").exists()

    def prepare_empty(self) -> None:
        """An empty data directory (0700, PostgreSQL's) and its socket directory, where
        a cluster can be restored into later; no-op where one exists already."""
        self._prepare_dirs()
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700)
            self._runner.give(self.data_dir)

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
        upstream = Upstream(source.host, source.port, replication_user)
        result = self._run(
            self._program("pg_basebackup"),
            *build_base_backup(str(self.data_dir), upstream, slot=slot),
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

    def write_wal_marker(self, text: str) -> None:
        """Write one WAL record now (a logical message no decoder needs): its standbys
        get something to replay even while nothing else writes."""
        self._query("SELECT pg_logical_emit_message(false, 'dr-lab', %s)", (text,))

    def checkpoint(self) -> None:
        """CHECKPOINT now, so pg_rewind finds a just-promoted primary's timeline."""
        self._query(CHECKPOINT_SQL)

    def control_data(self) -> str:
        """pg_controldata's report (cluster state, latest checkpoint); works while stopped."""
        return self._run(
            self._program("pg_controldata"),
            *build_control_data(str(self.data_dir)),
            env=CONTROL_DATA_ENV,
        ).stdout

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
        upstream = Upstream(source.host, source.port, replication_user)
        result = self._run(
            self._program("pg_rewind"),
            *build_rewind(str(self.data_dir), upstream),
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

        The old data directory is kept aside (``data.before-rebuild``, one generation),
        as a production host's default base backup keeps it.
        """
        if self.is_running:
            raise PostgresLabError(f"PostgreSQL {self.name} runs; stop it before a rebuild")
        self._prepare_dirs()
        kept = self.data_dir.with_name(self.data_dir.name + SET_ASIDE_SUFFIX)
        shutil.rmtree(kept, ignore_errors=True)
        if self.data_dir.exists():
            self.data_dir.rename(kept)
        self._base_backup(source, replication_user, slot=None, timeout=timeout)

    def start_read_only(self, timeout: float = 60) -> None:
        """Start this stopped cluster as a read-only copy of its own history
        (orchestrator/postgresql/old_timeline.py), as a production host's default
        `db_start_read_only` does."""
        if self.is_running:
            raise PostgresLabError(f"PostgreSQL {self.name} runs; stop it first")
        if not self.has_cluster:
            raise PostgresLabError(f"there is no cluster in {self.data_dir} to start")
        # The service account's file, as pg_rewind -R rewrites it later.
        self._write_private(self.data_dir / STANDBY_SIGNAL, "")
        self.start(timeout, options=read_only_options())

    def stop_streaming(self) -> None:
        """This standby stops receiving WAL (its upstream connection emptied, the old one
        kept aside for `resume_streaming`): what a cut replication link does."""
        saved = self.state_dir / _SAVED_CONNINFO
        if not saved.exists():
            [(current,)] = self._query("SELECT current_setting('primary_conninfo')")
            self._write_private(saved, current)
        self._query("ALTER SYSTEM SET primary_conninfo = ''")
        self._query("SELECT pg_reload_conf()")
        # A paused startup process does not act on the new setting until replay
        # resumes: the running receiver (an auxiliary process, which SQL cannot end) is
        # stopped by its signal here, and nothing starts another.
        for (pid,) in self._query("SELECT pid FROM pg_stat_wal_receiver WHERE pid IS NOT NULL"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        if not wait_until(
            lambda: not self._query("SELECT 1 FROM pg_stat_wal_receiver WHERE pid IS NOT NULL"),
            timeout=10,
        ):
            raise PostgresLabError(f"the WAL receiver of {self.name} did not stop")

    def resume_streaming(self) -> None:
        """Undo `stop_streaming` on a server still a standby; a rebuild wrote its own."""
        saved = self.state_dir / _SAVED_CONNINFO
        if not saved.exists():
            return
        if self.is_running and self.standby_status().in_recovery:
            statement = sql.SQL("ALTER SYSTEM SET primary_conninfo = {}").format(
                sql.Literal(saved.read_text())
            )
            self._query(statement)
            self._query("SELECT pg_reload_conf()")
        saved.unlink()

    @property
    def is_standby(self) -> bool:
        return (self.data_dir / STANDBY_SIGNAL).exists()

    def promote(self, timeout: float = 60) -> None:
        """Turn this standby into a writable primary; no-op if it already is one."""
        if not self.is_standby:
            return
        if not self.is_running:
            raise PostgresLabError(f"standby {self.name} is not running; start it to promote it")
        self._run(
            self._program("pg_ctl"),
            *build_promote(str(self.data_dir), timeout),
            timeout=timeout + 10,
        )

    def replication_status(self) -> list[Replica]:
        """The standbys connected to this primary right now (the replicas fact)."""
        return parse_replicas(self.replicas_report())

    def replicas_report(self) -> str:
        """The replicas fact as a production host's default command prints it."""
        return self.psql(REPLICAS_SQL)

    def standby_status(self) -> DatabaseStatus:
        """Role and replication position, as this server reports them (the status fact)."""
        return parse_status(self.status_report())

    def status_report(self) -> str:
        """The status fact as a production host's default command prints it."""
        return self.psql(STATUS_SQL)

    def replay_lag(self) -> timedelta | None:
        """How far replay trails what was received (None: nothing replayed yet): the lab
        observer's measure, not a device fact.

        Zero once everything received is replayed: an idle primary must not look like a
        lagging standby. Otherwise it is the age of the last replayed commit.
        """
        [(in_recovery, lag)] = self._query(
            "SELECT pg_is_in_recovery(),"
            " CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN interval '0'"
            "  ELSE greatest(interval '0', now() - pg_last_xact_replay_timestamp()) END"
        )
        if not in_recovery:
            raise PostgresLabError(f"{self.name} is not a standby (it is not in recovery)")
        return lag

    def last_replay_timestamp(self) -> datetime | None:
        """Commit time of the last transaction replayed; kept after promotion (for RPO)."""
        return self.standby_status().last_replay_at

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
        self._write_private(self.passfile, pgpass_line(source.host, source.port, user, password))
