"""One stanza opened with one pgBackRest: every pgBackRest command of an action goes here.

It joins the builders and parsers of `backups.pgbackrest`, the process runner (which
masks secrets and stops a whole process group at a time limit), the secrets'
environment, and the account: when we are root, pgBackRest runs as PostgreSQL's account
through `setpriv` (as PostgreSQL's own programs do, `orchestrator.postgresql`), because
archive_command writes to the same repository, spool and locks as that account.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from backups.execute import Completed, Masker, Runner, child_environment
from backups.pgbackrest import repo_ls
from backups.pgbackrest.backup import BackupType, build_backup, build_expire
from backups.pgbackrest.check import VerifyResult, build_check, build_verify, parse_verify
from backups.pgbackrest.config import StanzaSettings, render_config
from backups.pgbackrest.errors import EXIT_OK, classify
from backups.pgbackrest.features import Version, build_version, parse_version
from backups.pgbackrest.info import StanzaInfo, build_info, parse_info
from backups.pgbackrest.stanza import build_stanza_create
from backups.pitr import files
from backups.pitr.settings import resolve_secrets, stanza_settings
from orchestrator.errors import BackupTimedOut, PgBackRestNotInstalled
from orchestrator.inventory import Inventory, PitrBackupSet
from orchestrator.postgresql.service_account import system_tool

EventSink = Callable[[str, dict[str, Any]], None]
# Variables of the operator's shell that would steer pgBackRest (or libpq under it).
_STEERING = ("PGBACKREST_", "PG")


def pgbackrest_program() -> str:
    """pgbackrest from DR_PGBACKREST (to try another build) or PATH, as an absolute path:
    archive_command, run by PostgreSQL with its own PATH, names it too."""
    program = os.environ.get("DR_PGBACKREST") or shutil.which("pgbackrest")
    if not program:
        raise PgBackRestNotInstalled("pgBackRest is not installed; apt-get install pgbackrest")
    return str(Path(program).absolute())


class StanzaSession:
    def __init__(
        self,
        settings: StanzaSettings,
        *,
        config_path: str,
        runner: Runner,
        program: str,
        version: Version,
        owner: pwd.struct_passwd,
        secrets: dict[str, str],
        on_event: EventSink | None = None,
    ) -> None:
        self.settings = settings
        self.config_path = config_path
        self.runner = runner
        self.program = program
        self.version = version
        self.owner = owner
        self._secrets = secrets
        self._on_event = on_event or (lambda kind, data: None)

    @classmethod
    def open(
        cls,
        inventory: Inventory,
        bset: PitrBackupSet,
        masker: Masker,
        *,
        on_event: EventSink | None = None,
    ) -> StanzaSession:
        """Resolve the secrets (failing early), find pgBackRest and its version, and make
        its configuration and working directories match the inventory."""
        secrets = resolve_secrets(inventory, bset, masker)
        runner = Runner(masker)
        program = pgbackrest_program()
        owner = files.account(bset.os_user)
        version = _detect_version(runner, program)
        settings = stanza_settings(inventory, bset)
        files.write_private(Path(bset.config_path), render_config(settings, version), owner)
        for directory in (settings.spool_path, settings.log_path, settings.lock_path):
            files.working_directory(Path(directory), owner)
        return cls(
            settings, config_path=bset.config_path, runner=runner, program=program,
            version=version, owner=owner, secrets=secrets, on_event=on_event,
        )  # fmt: skip

    def describe(self) -> str:
        return self.settings.describe()

    # -- running ------------------------------------------------------------------------

    def argv(self, args: list[str]) -> list[str]:
        command = [
            self.program,
            f"--config={self.config_path}",
            f"--stanza={self.settings.stanza}",
            *args,
        ]
        if os.geteuid() != 0 or self.owner.pw_uid == 0:
            return command
        return [
            system_tool("setpriv", "util-linux"),
            *(f"--reuid={self.owner.pw_uid}", f"--regid={self.owner.pw_gid}"),
            "--init-groups",
            "--",
            *command,
        ]

    def environment(self) -> dict[str, str]:
        env = child_environment(self._secrets, _STEERING)
        env.update(HOME=self.owner.pw_dir, USER=self.owner.pw_name, LOGNAME=self.owner.pw_name)
        return env

    def run(
        self, args: list[str], *, what: str, timeout: float, allowed: tuple[int, ...] = (EXIT_OK,)
    ) -> Completed:
        """Run one pgBackRest command; raise our error for a failure or a time limit."""
        result = self.runner.run(self.argv(args), self.environment(), timeout=timeout)
        if result.timed_out:
            self._on_event(
                "backup.timeout",
                {"what": what, "stanza": self.settings.stanza, "limit_seconds": timeout},
            )
            raise BackupTimedOut(
                f"{what} ran past its time limit of {timeout:g}s (the set's timeouts) and "
                "was stopped with its whole process group"
            )
        if result.exit_code not in allowed:
            raise classify(result.exit_code, result.stderr, what=what, where=self.describe())
        return result

    # -- commands -----------------------------------------------------------------------

    def stanza_create(self, timeout: float) -> None:
        self.run(build_stanza_create(), what="pgbackrest stanza-create", timeout=timeout)

    def check(self, timeout: float) -> None:
        self.run(build_check(), what="pgbackrest check", timeout=timeout)

    def verify(self, repository: int, timeout: float) -> VerifyResult:
        args = build_verify(repository, self.version)
        result = self.run(args, what=f"pgbackrest verify (repo{repository})", timeout=timeout)
        return parse_verify(repository, result.stdout)

    def backup(
        self, kind: BackupType, repository: int, *, run_id: str, timeout: float
    ) -> Completed:
        args = build_backup(kind, repository, self.version, run_id=run_id)
        what = f"pgbackrest backup --type={kind} (repo{repository})"
        return self.run(args, what=what, timeout=timeout)

    def expire(self, repository: int, timeout: float) -> None:
        self.run(build_expire(repository), what="pgbackrest expire", timeout=timeout)

    def info(self, timeout: float) -> StanzaInfo:
        result = self.run(build_info(), what="pgbackrest info", timeout=timeout)
        return parse_info(result.stdout, self.settings.stanza)

    def newest_wal_time(
        self, repository: int, archive_id: str, segment: str, timeout: float
    ) -> datetime | None:
        args = repo_ls.build_segment_listing(self.settings.stanza, archive_id, segment, repository)
        result = self.run(args, what=f"pgbackrest repo-ls (repo{repository})", timeout=timeout)
        return repo_ls.newest_time(repo_ls.parse_repo_ls(result.stdout))

    def restore(self, args: list[str], timeout: float) -> Completed:
        """`args` from backups.pgbackrest.restore.build_restore."""
        return self.run(args, what="pgbackrest restore", timeout=timeout)


def _detect_version(runner: Runner, program: str) -> Version:
    result = runner.run([program, *build_version()], child_environment({}, _STEERING))
    if result.exit_code != EXIT_OK:
        raise PgBackRestNotInstalled(f"`{program} version` failed: {result.stderr.strip()[:200]}")
    return parse_version(result.stdout)
