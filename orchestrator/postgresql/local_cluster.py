"""A PostgreSQL 15 cluster on this machine, in a state directory we own.

The cluster keeps everything under its *state directory*, the parent of its data
directory: ``data/`` (the cluster), ``log/postgresql.log``, ``run/`` (the Unix socket)
and ``pgpass`` (passwords its own outgoing connections read). Give every cluster its own
state directory. Nothing under /etc is read or changed, and Debian's own clusters
(pg_ctlcluster) are left alone. The restore test's scratch server is one; the drill lab
builds its primary and standby on it.

We administer the server from Python over its Unix socket, as the ``postgres`` role by
peer identity (root and the service account are mapped to it in pg_ident.conf). Path
sockets are not scoped by network namespace, so this works for a server inside one too.
Every other login, local or TCP, needs a SCRAM password. Passwords never appear on a
command line: role passwords are hashed client-side before they are sent, and the
initial superuser password goes through a 0600 file that is deleted at once.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import socket
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import psycopg2
from psycopg2 import sql
from psycopg2.extensions import connection as PgConnection
from psycopg2.extensions import encrypt_password

from orchestrator.local_machine import process_is_running, wait_until
from orchestrator.postgresql import cluster_files
from orchestrator.postgresql.errors import PortInUse, PostgresError
from orchestrator.postgresql.service_account import (
    COMMAND_TIMEOUT_S,
    DEFAULT_BIN_DIR,
    ProgramRunner,
    service_account,
)

SUPERUSER = "postgres"

# Linux sun_path holds 108 bytes including the terminating NUL.
_MAX_SOCKET_PATH = 107


@dataclass(frozen=True)
class Endpoint:
    """Where a server accepts TCP connections, as a client (or a standby) reaches it."""

    host: str
    port: int


class LocalCluster:
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
        extra_settings: Mapping[str, str] | None = None,
        clean_environment: bool = False,
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
            else cluster_files.default_networks(listen_address)
        )
        self.bin_dir = bin_dir
        # Added to dr.conf as written there (archive_mode, archive_command, ...).
        self.extra_settings = dict(extra_settings or {})
        self._superuser_password = superuser_password
        self._clean_environment = clean_environment  # see ProgramRunner.inherit_environment
        self._passwords: dict[str, str] = {}
        if superuser_password is not None:
            self._passwords[SUPERUSER] = superuser_password
        socket_path = self.socket_dir / f".s.PGSQL.{port}"
        if len(os.fsencode(socket_path)) > _MAX_SOCKET_PATH:
            raise PostgresError(
                f"the socket path {socket_path} is longer than the {_MAX_SOCKET_PATH} bytes "
                "Linux allows; choose a shorter state directory or pass socket_dir"
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {self.listen_address}:{self.port})"

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

    def start(self, timeout: float = 30, options: str = "") -> None:
        """Start and wait until it accepts connections; no-op if it runs. `options`:
        postgres command-line options (pg_ctl's -o) for this start only."""
        if self.is_running:
            self._wait_ready(timeout)
            return
        # Checked before the cluster, so the operator hears about the real obstacle first.
        if self.netns is None and self.listen_address:
            self._check_port_free()
        if not self._initialized:
            raise PostgresError(
                f"there is no PostgreSQL cluster in {self.data_dir}; initialise it first"
            )
        self._prepare_dirs()
        self._write_instance_config()
        log_offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        result = self._run(
            self._program("pg_ctl"),
            *("start", "-D", str(self.data_dir), "-l", str(self.log_file), "-s"),
            *("-w", "-t", str(max(1, math.ceil(timeout))), *(("-o", options) if options else ())),
            timeout=timeout + 10,
            check=False,
        )
        if result.returncode != 0:
            log_tail = self._log_since(log_offset)
            if "Address already in use" in log_tail:
                raise PortInUse(self._port_in_use_message())
            raise PostgresError(
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
            raise PostgresError(
                f"PostgreSQL {self.name} did not stop ({mode}): {result.stderr.strip()}; "
                "try stop(mode='immediate')"
            )
        # pg_ctl returns once the pid file is gone, a moment before the process exits.
        wait_until(lambda: not process_is_running(pid), timeout=10)

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
            execute(conn, statement, (verifier,))
        self._passwords[name] = password

    def drop_role(self, name: str) -> None:
        self._query(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(name)))
        self._passwords.pop(name, None)

    def create_database(self, name: str, owner: str | None = None) -> None:
        """Create a database, or give an existing one to ``owner``."""
        with self._connect() as conn:
            if self._exists(conn, "pg_database", "datname", name):
                if owner is not None:
                    execute(
                        conn,
                        sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                            sql.Identifier(name), sql.Identifier(owner)
                        ),
                    )
                return
            statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
            if owner is not None:
                statement += sql.SQL(" OWNER {}").format(sql.Identifier(owner))
            execute(conn, statement)

    def drop_database(self, name: str) -> None:
        """Drop a database, ending any session still connected to it."""
        self._query(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def psql(self, sql_text: str, database: str = "postgres") -> str:
        """Run SQL (psql meta-commands allowed) as the superuser; return psql's output.

        Output is unaligned tuples only (``-At``), so a one-value query returns the value.
        """
        if not self.is_running:
            raise PostgresError(f"PostgreSQL {self.name} is not running; start it first")
        result = self._run(
            self._program("psql"),
            *("-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"),
            *("-h", str(self.socket_dir), "-p", str(self.port), "-U", SUPERUSER, "-d", database),
            input_text=sql_text,
            check=False,
        )
        if result.returncode != 0:
            raise PostgresError(f"psql on {self.name}/{database} failed: {result.stderr.strip()}")
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
        # "": no TCP at all (the restore test's scratch server): clients use the socket.
        unspecified = {"*": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}
        host = unspecified.get(self.listen_address, self.listen_address) or str(self.socket_dir)
        return Endpoint(host, self.port)

    # ----- internals: files ------------------------------------------------------------

    @property
    def _initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    @cached_property
    def _runner(self) -> ProgramRunner:
        # Looked up on first use: a cluster object can be described before PostgreSQL
        # is installed, and the message then comes from the first thing that needs it.
        return ProgramRunner(
            label=self.name,
            account=service_account(),
            passfile=self.passfile,
            bin_dir=self.bin_dir,
            netns=self.netns,
            inherit_environment=not self._clean_environment,
        )

    def _prepare_dirs(self) -> None:
        created_state = not self.state_dir.exists()
        created_socket = not self.socket_dir.exists()
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created_state:
            self._runner.give(self.state_dir)
        self.log_file.parent.mkdir(mode=0o700, exist_ok=True)
        self._runner.give(self.log_file.parent)
        self.socket_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if created_socket or self.socket_dir.parent == self.state_dir:
            self._runner.give(self.socket_dir)
        # Every directory above must be searchable by the service account; pytest's
        # 0700 tmp dirs, for one, are not. Ask the account itself rather than guess.
        probe = self._run(
            "test", "-w", str(self.state_dir), "-a", "-x", str(self.state_dir), check=False
        )
        if probe.returncode != 0:
            user = self._runner.account.pw_name
            raise PostgresError(
                f"the {user} account cannot write to {self.state_dir}: every directory above "
                f"it must be searchable by {user} and it must be writable by {user} "
                f"(chown {user}: {self.state_dir})"
            )

    def _write_private(self, path: Path, text: str) -> None:
        self._runner.write_private(path, text)

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
        settings = cluster_files.cluster_settings(fast=fast) | self.extra_settings
        self._write_private(self.data_dir / "dr.conf", cluster_files.conf_file(settings))
        main_conf = self.data_dir / "postgresql.conf"
        extended = cluster_files.with_includes(main_conf.read_text(encoding="utf-8"))
        if extended is not None:
            self._write_private(main_conf, extended)

    def _write_instance_config(self) -> None:
        settings = cluster_files.instance_settings(
            port=self.port,
            listen_address=self.listen_address,
            socket_dir=str(self.socket_dir),
            name=self.name,
        )
        self._write_private(self.data_dir / "dr-instance.conf", cluster_files.conf_file(settings))

    def _write_access_rules(self) -> None:
        admins = dict.fromkeys(["root", self._runner.account.pw_name])
        rules = cluster_files.access_rules(SUPERUSER, self.allowed_networks)
        self._write_private(self.data_dir / "pg_hba.conf", rules)
        ident = cluster_files.administrators(SUPERUSER, admins)
        self._write_private(self.data_dir / "pg_ident.conf", ident)

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
        return self._runner.program(name)

    def _run(
        self,
        program: str,
        *args: str,
        input_text: str | None = None,
        timeout: float = COMMAND_TIMEOUT_S,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return self._runner.run(
            program, *args, input_text=input_text, timeout=timeout, check=check, env=env
        )

    def _wait_ready(self, timeout: float) -> None:
        isready = self._program("pg_isready")
        host = self.endpoint.host

        def ready() -> bool:
            args = ("-q", "-h", host, "-p", str(self.port), "-t", "2")
            return self._run(isready, *args, check=False).returncode == 0

        if not wait_until(ready, timeout=timeout):
            raise PostgresError(
                f"PostgreSQL {self.name} runs but does not accept connections on "
                f"{host}:{self.port} after {timeout:.0f} s; see {self.log_file}"
            )

    def _check_port_free(self) -> None:
        host = {"*": "0.0.0.0"}.get(self.listen_address, self.listen_address)
        try:
            addresses = socket.getaddrinfo(host, self.port, type=socket.SOCK_STREAM)
        except socket.gaierror as err:
            raise PostgresError(f"cannot resolve listen address {host}: {err}") from None
        for family, kind, proto, _, address in addresses:
            with socket.socket(family, kind, proto) as probe:
                # As the postmaster does, so our own last run's TIME_WAIT does not count.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(address)
                except OSError as err:
                    if err.errno == errno.EADDRINUSE:
                        raise PortInUse(self._port_in_use_message()) from None
                    raise PostgresError(
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
            raise PostgresError(f"PostgreSQL {self.name} is not running; start it first")
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
            raise PostgresError(
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
            return execute(conn, statement, params)

    @staticmethod
    def _exists(conn: PgConnection, catalog: str, column: str, value: str) -> bool:
        statement = sql.SQL("SELECT 1 FROM {} WHERE {} = %s").format(
            sql.Identifier(catalog), sql.Identifier(column)
        )
        return bool(execute(conn, statement, (value,)))


def execute(
    conn: PgConnection, statement: str | sql.Composable, params: Sequence[Any] = ()
) -> list[tuple[Any, ...]]:
    """Run one statement; PostgreSQL's refusal becomes our error with its own words."""
    with conn.cursor() as cursor:
        try:
            cursor.execute(statement, params)
        except psycopg2.Error as err:
            message = (err.pgerror or str(err)).strip()
            raise PostgresError(f"PostgreSQL refused a statement: {message}") from None
        return cursor.fetchall() if cursor.description else []
