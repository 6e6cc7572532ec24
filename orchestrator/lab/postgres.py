"""A real PostgreSQL 15 server for the test suite and the drill lab.

One server keeps everything under its *state directory*, the parent of its data
directory: ``data/`` (the cluster), ``log/postgresql.log``, ``run/`` (the Unix socket)
and ``pgpass`` (the password a standby uses to reach its primary). Give every server its
own state directory. Nothing under /etc is read or changed, and Debian's own clusters
(pg_ctlcluster) are left alone.

PostgreSQL refuses to run as root. When we are root, each PostgreSQL program runs as the
``postgres`` system user through ``setpriv``: unlike ``runuser`` it opens no PAM session
(no auth-log line for every psql call), and unlike a Python ``preexec_fn`` it is safe
while the engine runs threads. Inside a lab network namespace the command becomes
``ip netns exec NS setpriv ... PROGRAM``: entering the namespace needs root, so it must
come before the privilege drop.

We administer the server from Python over its Unix socket, as the ``postgres`` role by
peer identity (root and the service account are mapped to it in pg_ident.conf). Path
sockets are not scoped by network namespace, so this works for a server inside one too.
Every other login, local or TCP, needs a SCRAM password. Passwords never appear on a
command line: role passwords are hashed client-side before they are sent, the initial
superuser password goes through a 0600 file that is deleted at once, and a standby reads
its replication password from a 0600 PGPASSFILE.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import pwd
import shutil
import socket
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from ipaddress import ip_address, ip_interface
from pathlib import Path
from typing import Any, Literal

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as PgConnection
from psycopg2.extensions import encrypt_password

from orchestrator.errors import LabError
from orchestrator.lab.processes import is_running, wait_until

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SUPERUSER = "postgres"
SERVICE_ACCOUNT = "postgres"
INSTALL_HINT = "install PostgreSQL 15: apt-get install postgresql-15"

# Linux sun_path holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107
_ADMIN_MAP = "dr_admin"
_COMMAND_TIMEOUT = 120.0


class PostgresLabError(LabError):
    """A lab or test PostgreSQL server could not be set up, started, stopped or queried."""


class PostgresNotInstalled(PostgresLabError):
    """The PostgreSQL 15 programs (or the postgres system user) are missing."""


class PortInUse(PostgresLabError):
    """Another program already listens on the address and port this server needs."""


@dataclass(frozen=True)
class Endpoint:
    """Where a server accepts TCP connections, as a client (or a standby) reaches it."""

    host: str
    port: int


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


class PostgresServer:
    """One PostgreSQL cluster in a state directory we own, on a port we choose."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int,
        listen_address: str = "127.0.0.1",
        socket_dir: Path | None = None,
        netns: str | None = None,
        superuser_password: str | None = None,
        name: str | None = None,
        allowed_networks: Sequence[str] | None = None,
        bin_dir: Path = DEFAULT_BIN_DIR,
    ) -> None:
        self.data_dir = data_dir.absolute()
        self.state_dir = self.data_dir.parent
        self.log_file = self.state_dir / "log" / "postgresql.log"
        self.socket_dir = (socket_dir or self.state_dir / "run").absolute()
        self.passfile = self.state_dir / "pgpass"
        self.port = port
        self.listen_address = listen_address
        self.netns = netns
        # cluster_name shows in `ps` and is the application_name a standby reports upstream.
        self.name = name or self.state_dir.name
        self.allowed_networks = (
            list(allowed_networks)
            if allowed_networks is not None
            else _default_networks(listen_address)
        )
        self.bin_dir = bin_dir
        self._superuser_password = superuser_password
        self._passwords: dict[str, str] = {}
        if superuser_password is not None:
            self._passwords[SUPERUSER] = superuser_password
        socket_path = self.socket_dir / f".s.PGSQL.{port}"
        if len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH:
            raise PostgresLabError(
                f"the socket path {socket_path} is longer than the {_MAX_SOCKET_PATH} bytes "
                "Linux allows; choose a shorter state directory or pass socket_dir"
            )

    def __repr__(self) -> str:
        return f"PostgresServer({self.name!r}, {self.listen_address}:{self.port})"

    # ----- lifecycle -------------------------------------------------------------------

    def init(self, *, fast: bool = False) -> None:
        """Create the cluster once and (re)write our configuration; safe to repeat.

        ``fast`` turns off fsync and synchronous_commit: only for throwaway test
        databases, where a crash may lose data and nobody minds.
        """
        self._prepare_dirs()
        if not self._initialized:
            self._initdb(fast=fast)
        self._write_config(fast=fast)
        self._write_access_rules()
        self._write_instance_config()
        if self.is_running:
            self._query("SELECT pg_reload_conf()")

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it accepts connections; no-op if it runs."""
        if self.is_running:
            self._wait_ready(timeout)
            return
        # Checked before the cluster, so the operator hears about the real obstacle first.
        if self.netns is None:
            self._check_port_free()
        if not self._initialized:
            raise PostgresLabError(
                f"there is no PostgreSQL cluster in {self.data_dir}; initialise it first"
            )
        self._prepare_dirs()
        self._write_instance_config()
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        result = self._run(
            self._program("pg_ctl"),
            *("start", "-D", str(self.data_dir), "-l", str(self.log_file), "-s"),
            *("-w", "-t", str(max(1, math.ceil(timeout)))),
            timeout=timeout + 10,
            check=False,
        )
        if result.returncode != 0:
            log_tail = self._log_since(log_offset)
            if "Address already in use" in log_tail:
                raise PortInUse(self._port_in_use_message())
            raise PostgresLabError(
                f"PostgreSQL {self.name} did not start: {result.stderr.strip()}\n"
                f"last lines of {self.log_file}:\n{log_tail}"
            )
        self._wait_ready(timeout)

    def stop(self, mode: Literal["fast", "immediate"] = "fast") -> None:
        """Stop the server and wait until its postmaster is gone; no-op if it is stopped.

        ``fast`` ends sessions and checkpoints; ``immediate`` is a crash (recovery on
        the next start), which is what a drill wants when it "loses" the primary.
        """
        pid = self.postmaster_pid
        if pid is None:
            return
        result = self._run(
            self._program("pg_ctl"),
            *("stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "-s"),
            timeout=90,
            check=False,
        )
        if result.returncode != 0 and self.is_running:
            raise PostgresLabError(
                f"PostgreSQL {self.name} did not stop ({mode}): {result.stderr.strip()}; "
                "try stop(mode='immediate')"
            )
        # pg_ctl returns once the pid file is gone, a moment before the process exits.
        wait_until(lambda: not is_running(pid), timeout=10)

    @property
    def is_running(self) -> bool:
        return self.postmaster_pid is not None

    @property
    def postmaster_pid(self) -> int | None:
        """The pid of this cluster's running postmaster, or None."""
        try:
            first_line = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
            pid = int(first_line)
        except (OSError, ValueError):
            return None
        # A stale pid file may name a recycled pid: the postmaster's cwd is its data dir.
        try:
            cwd = Path(os.readlink(f"/proc/{pid}/cwd"))
        except OSError:
            return None
        return pid if cwd == self.data_dir.resolve() else None

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

    # ----- roles, databases, SQL -------------------------------------------------------

    def create_role(
        self, name: str, password: str, *, superuser: bool = False, replication: bool = False
    ) -> None:
        """Create a login role, or bring an existing one to these attributes and password."""
        with self._connect() as conn:
            # Hashed here so the plain password cannot reach the server log, even when the
            # statement fails and log_min_error_statement prints it.
            verifier = encrypt_password(password, name, scope=conn, algorithm="scram-sha-256")
            if name == SUPERUSER:
                # The bootstrap superuser keeps its attributes; only its password changes.
                statement = sql.SQL("ALTER ROLE {} PASSWORD %s").format(sql.Identifier(name))
            else:
                verb = "ALTER" if self._exists(conn, "pg_roles", "rolname", name) else "CREATE"
                statement = sql.SQL("{} ROLE {} WITH LOGIN {} {} PASSWORD %s").format(
                    sql.SQL(verb),
                    sql.Identifier(name),
                    sql.SQL("SUPERUSER" if superuser else "NOSUPERUSER"),
                    sql.SQL("REPLICATION" if replication else "NOREPLICATION"),
                )
            _execute(conn, statement, (verifier,))
        self._passwords[name] = password

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
                _execute(conn, statement)

    def drop_role(self, name: str) -> None:
        self._query(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        self._passwords.pop(name, None)

    def create_database(self, name: str, owner: str | None = None) -> None:
        """Create a database, or give an existing one to ``owner``."""
        with self._connect() as conn:
            if self._exists(conn, "pg_database", "datname", name):
                if owner is not None:
                    _execute(
                        conn,
                        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                            sql.Identifier(name), sql.Identifier(owner)
                        ),
                    )
                return
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if owner is not None:
                statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            _execute(conn, statement)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it."""
        self._query(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def psql(self, sql_text: str, database: str = "postgres") -> str:
        """Run SQL (psql meta-commands allowed) as the superuser; return psql's output.

        Output is unaligned tuples only (``-At``), so a one-value query returns the value.
        """
        if not self.is_running:
            raise PostgresLabError(f"PostgreSQL {self.name} is not running; start it first")
        result = self._run(
            self._program("psql"),
            *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"),
            *("-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database),
            input_text=sql_text,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresLabError(
                f"psql on {self.name}/{database} failed: {result.stderr.strip()}"
            )
        return result.stdout

    def url(
        self, database: str = "postgres", user: str = SUPERUSER, password: str | None = None
    ) -> str:
        """A SQLAlchemy URL over TCP; the password defaults to the one we set for ``user``."""
        # Imported here: the lab's host control loads this module for every command.
        from sqlalchemy.engine import URL

        return URL.create(
            "postgresql+psycopg2",
            username=user,
            password=password if password is not None else self._passwords.get(user),
            host=self.endpoint.host,
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    @property
    def endpoint(self) -> Endpoint:
        unspecified = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
        return Endpoint(unspecified.get(self.listen_address, self.listen_address), self.port)

    # ----- internals: files ------------------------------------------------------------

    @property
    def _initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @cached_property
    def _account(self) -> pwd.struct_passwd:
        """The account the server runs as: postgres when we are root, else ourselves."""
        if os.geteuid() != 0:
            return pwd.getpwuid(os.geteuid())
        try:
            return pwd.getpwnam(SERVICE_ACCOUNT)
        except KeyError:
            raise PostgresNotInstalled(
                f"the '{SERVICE_ACCOUNT}' system user does not exist; Debian's PostgreSQL "
                f"packages create it: {INSTALL_HINT}"
            ) from None

    def _prepare_dirs(self) -> None:
        created_state = not self.state_dir.exists()
        created_socket = not self.socket_dir.exists()
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created_state:
            self._give(self.state_dir)
        self.log_file.parent.mkdir(mode=0o700, exist_ok=True)
        self._give(self.log_file.parent)
        self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created_socket or self.socket_dir.parent == self.state_dir:
            self._give(self.socket_dir)
        # Every directory above must be searchable by the service account; pytest's
        # 0700 tmp dirs, for one, are not. Ask the account itself rather than guess.
        probe = self._run(
            "test", "-w", str(self.state_dir), "-a", "-x", str(self.state_dir), check=False
        )
        if probe.returncode != 0:
            user = self._account.pw_name
            raise PostgresLabError(
                f"the {user} account cannot write to {self.state_dir}: every directory above "
                f"it must be searchable by {user} and it must be writable by {user} "
                f"(chown {user}: {self.state_dir})"
            )

    def _give(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)

    def _write_private(self, path: Path, text: str) -> None:
        """Write a file only the service account can read.

        O_NOFOLLOW: the directories belong to the service account, and root must not
        be tricked into writing through a link it planted.
        """
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, 0o600)
            if os.geteuid() == 0:
                os.fchown(fd, self._account.pw_uid, self._account.pw_gid)
            handle.write(text)

    def _initdb(self, *, fast: bool) -> None:
        args = [
            *("-D", str(self.data_dir), "-U", SUPERUSER, "--encoding=UTF8"),
            # C.UTF-8 sorts by code point, exists on every Debian, and keeps messages English.
            *("--locale=C.UTF-8", "--data-checksums", "--no-instructions"),
            # Nothing may log in before our own pg_hba.conf is written.
            *("--auth-local=peer", "--auth-host=reject"),
        ]
        if fast:
            args.append("--no-sync")
        pwfile = self.state_dir / ".initdb-pw"
        with contextlib.ExitStack() as cleanup:
            if self._superuser_password is not None:
                self._write_private(pwfile, self._superuser_password + "\n")
                cleanup.callback(pwfile.unlink, missing_ok=True)
                args.append(f"--pwfile={pwfile}")
            self._run(self._program("initdb"), *args)

    def _write_config(self, *, fast: bool) -> None:
        settings = {
            "wal_level": "replica",
            "max_wal_senders": "10",
            "max_replication_slots": "10",
            # Lets a standby without a slot catch up after a short outage.
            "wal_keep_size": "'256MB'",
            "hot_standby": "on",
            "password_encryption": "'scram-sha-256'",
            # Several lab servers share one machine.
            "shared_buffers": "'64MB'",
            "log_line_prefix": "'%m [%p] %q%u@%d '",
        }
        if fast:
            settings |= {"fsync": "off", "synchronous_commit": "off"}
        self._write_conf_file("dr.conf", settings)
        main_conf = self.data_dir / "postgresql.conf"
        text = main_conf.read_text(encoding="utf-8")
        includes = "include_if_exists = 'dr.conf'\ninclude_if_exists = 'dr-instance.conf'\n"
        if includes not in text:
            # Appended, so our files override initdb's defaults; ALTER SYSTEM still wins.
            self._write_private(main_conf, f"{text.rstrip()}\n\n# Added by dr\n{includes}")

    def _write_instance_config(self) -> None:
        """What belongs to this server, not to its data: rewritten at every start because
        a standby's copy arrives with the primary's port and addresses."""
        self._write_conf_file(
            "dr-instance.conf",
            {
                "port": str(self.port),
                "listen_addresses": _conf_string(self.listen_address),
                "unix_socket_directories": _conf_string(str(self.socket_dir)),
                "cluster_name": _conf_string(self.name),
            },
        )

    def _write_conf_file(self, filename: str, settings: dict[str, str]) -> None:
        lines = [f"{key} = {value}" for key, value in settings.items()]
        header = "# Written by dr (orchestrator/lab/postgres.py); edits here are lost.\n"
        self._write_private(self.data_dir / filename, header + "\n".join(lines) + "\n")

    def _write_access_rules(self) -> None:
        admins = dict.fromkeys(["root", self._account.pw_name])
        ident = "".join(f"{_ADMIN_MAP} {user} {SUPERUSER}\n" for user in admins)
        rules = [
            # Root and the service account administer the server by peer identity.
            f"local all {SUPERUSER} peer map={_ADMIN_MAP}",
            f"local replication {SUPERUSER} peer map={_ADMIN_MAP}",
            "local all all scram-sha-256",
            "local replication all scram-sha-256",
        ]
        for network in self.allowed_networks:
            rules.append(f"host all all {network} scram-sha-256")
            rules.append(f"host replication all {network} scram-sha-256")
        header = "# Written by dr (orchestrator/lab/postgres.py); edits here are lost.\n"
        self._write_private(self.data_dir / "pg_hba.conf", header + "\n".join(rules) + "\n")
        self._write_private(self.data_dir / "pg_ident.conf", header + ident)

    def _write_passfile(self, source: Endpoint, user: str, password: str) -> None:
        # pg_basebackup -R records passfile=... (not the password) in primary_conninfo,
        # and the standby's walreceiver reads the password from here ever after.
        fields = [source.host, str(source.port), "replication", user, password]
        escaped = [field.replace("\\", "\\\\").replace(":", "\\:") for field in fields]
        self._write_private(self.passfile, ":".join(escaped) + "\n")

    def _log_since(self, offset: int, max_lines: int = 20) -> str:
        try:
            with self.log_file.open("rb") as handle:
                handle.seek(offset)
                text = handle.read().decode("utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.strip().splitlines()[-max_lines:]) or "(empty)"

    # ----- internals: processes --------------------------------------------------------

    def _program(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise PostgresNotInstalled(f"{path} is missing; {INSTALL_HINT}")
        return str(path)

    def _command(self, program: str, args: Sequence[str]) -> list[str]:
        argv = [program, *args]
        if os.geteuid() == 0:
            account = self._account
            argv = [
                _tool("setpriv", "util-linux"),
                *(f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups"),
                "--",
                *argv,
            ]
        if self.netns is not None:
            argv = [_tool("ip", "iproute2"), "netns", "exec", self.netns, *argv]
        return argv

    def _environment(self) -> dict[str, str]:
        # PG* variables from the operator's shell (PGHOST, PGDATA, PGPASSWORD, ...) would
        # silently point our programs elsewhere.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        account = self._account
        env |= {
            "PGPASSFILE": str(self.passfile),
            "HOME": account.pw_dir,
            "USER": account.pw_name,
            "LOGNAME": account.pw_name,
        }
        return env

    def _run(
        self,
        program: str,
        *args: str,
        input_text: str | None = None,
        timeout: float = _COMMAND_TIMEOUT,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        argv = self._command(program, args)
        what = Path(program).name
        try:
            result = subprocess.run(
                argv,
                input=input_text,
                capture_output=True,
                text=True,
                env=self._environment(),
                # The service account may not be allowed into our working directory.
                cwd="/",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PostgresLabError(
                f"{what} for PostgreSQL {self.name} did not finish within {timeout:.0f} s"
            ) from None
        if check and result.returncode != 0:
            raise PostgresLabError(
                f"{what} for PostgreSQL {self.name} failed: {result.stderr.strip()}"
            )
        return result

    def _wait_ready(self, timeout: float) -> None:
        isready = self._program("pg_isready")
        host = self.endpoint.host

        def ready() -> bool:
            args = ("-q", "-h", host, "-p", str(self.port), "-t", "2")
            return self._run(isready, *args, check=False).returncode == 0

        if not wait_until(ready, timeout=timeout):
            raise PostgresLabError(
                f"PostgreSQL {self.name} runs but does not accept connections on "
                f"{host}:{self.port} after {timeout:.0f} s; see {self.log_file}"
            )

    def _check_port_free(self) -> None:
        host = {"*": "0.0.0.0"}.get(self.listen_address, self.listen_address)
        try:
            addresses = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as err:
            raise PostgresLabError(f"cannot resolve listen address {host}: {err}") from None
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                # As the postmaster does, so our own last run's TIME_WAIT does not count.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(address)
                except OSError as err:
                    if err.errno == errno.EADDRINUSE:
                        raise PortInUse(self._port_in_use_message()) from None
                    raise PostgresLabError(
                        f"PostgreSQL {self.name} cannot listen on {host}:{self.port}: "
                        f"{err.strerror}"
                    ) from None

    def _port_in_use_message(self) -> str:
        return (
            f"cannot start PostgreSQL {self.name}: {self.listen_address}:{self.port} is "
            "already in use by another program; stop it or give this server another port"
        )

    # ----- internals: SQL --------------------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, database: str = "postgres") -> Iterator[PgConnection]:
        if not self.is_running:
            raise PostgresLabError(f"PostgreSQL {self.name} is not running; start it first")
        try:
            conn = psycopg2.connect(
                host=str(self.socket_dir),
                port=self.port,
                user=SUPERUSER,
                dbname=database,
                connect_timeout=10,
                application_name="dr",
            )
        except psycopg2.Error as err:
            raise PostgresLabError(
                f"cannot connect to PostgreSQL {self.name} through {self.socket_dir}: "
                f"{str(err).strip()}"
            ) from None
        # CREATE/DROP DATABASE refuse to run inside a transaction block.
        conn.autocommit = True
        try:
            yield conn
        finally:
            conn.close()

    def _query(
        self, statement: str | sql.Composable, params: Sequence[Any] = ()
    ) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            return _execute(conn, statement, params)

    @staticmethod
    def _exists(conn: PgConnection, catalog: str, column: str, value: str) -> bool:
        statement = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(
            sql.Identifier(catalog), sql.Identifier(column)
        )
        return bool(_execute(conn, statement, (value,)))


def _execute(
    conn: PgConnection, statement: str | sql.Composable, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        try:
            cursor.execute(statement, params)
        except psycopg2.Error as err:
            message = (err.pgerror or str(err)).strip()
            raise PostgresLabError(f"PostgreSQL refused a lab statement: {message}") from None
        return cursor.fetchall() if cursor.description else []


def _default_networks(listen_address: str) -> list[str]:
    """The listen address's /24 (IPv4) or /64 (IPv6), plus loopback.

    A lab subnet is wider or narrower at times: pass ``allowed_networks`` then. A host
    name or a wildcard listen address gives loopback only, never the whole world.
    """
    loopback = ["127.0.0.0/8", "::1/128"]
    try:
        address = ip_address(listen_address)
    except ValueError:
        return loopback
    if address.is_unspecified or address.is_loopback:
        return loopback
    prefix = 24 if address.version == 4 else 64
    network = str(ip_interface(f"{address}/{prefix}").network)
    return list(dict.fromkeys([network, *loopback]))


def _conf_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PostgresLabError(f"{name} is missing; install it: apt-get install {package}")
    return path
