"""Running PostgreSQL's programs as the account PostgreSQL runs as.

PostgreSQL refuses to run as root. When we are root, each program runs as the
``postgres`` system user through ``setpriv``: unlike ``runuser`` it opens no PAM session
(no auth-log line for every psql call), and unlike a Python ``preexec_fn`` it is safe
while the engine runs threads. Inside a network namespace the command becomes
``ip netns exec NS setpriv ... PROGRAM``: entering the namespace needs root, so it must
come before the privilege drop. When we are not root, programs run as ourselves.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from orchestrator.postgresql.errors import INSTALL_HINT, PostgresError, PostgresNotInstalled

DEFAULT_BIN_DIR = Path("/usr/lib/postgresql/15/bin")
SERVICE_ACCOUNT = "postgres"
COMMAND_TIMEOUT_S = 120.0


def service_account() -> pwd.struct_passwd:
    """The account a cluster runs as: postgres when we are root, else ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        raise PostgresNotInstalled(
            f"the '{SERVICE_ACCOUNT}' system user does not exist; Debian's PostgreSQL "
            f"packages create it: {INSTALL_HINT}"
        ) from None


@dataclass(frozen=True)
class ProgramRunner:
    """Runs one cluster's programs: as its account, in its namespace, with its passfile.

    ``label`` names the cluster in messages.
    """

    label: str
    account: pwd.struct_passwd
    passfile: Path
    bin_dir: Path = DEFAULT_BIN_DIR
    netns: str | None = None
    # False: programs (and the server they start) see no variable of ours but PATH and
    # LANG: the restore test's scratch server runs restored SQL and must hold no secret.
    inherit_environment: bool = True

    def program(self, name: str) -> str:
        path = self.bin_dir / name
        if not path.exists():
            raise PostgresNotInstalled(f"{path} is missing; {INSTALL_HINT}")
        return str(path)

    def command(self, program: str, args: Sequence[str]) -> list[str]:
        argv = [program, *args]
        if os.geteuid() == 0:
            argv = [
                system_tool("setpriv", "util-linux"),
                *(f"--reuid={self.account.pw_uid}", f"--regid={self.account.pw_gid}"),
                "--init-groups",
                "--",
                *argv,
            ]
        if self.netns is not None:
            argv = [system_tool("ip", "iproute2"), "netns", "exec", self.netns, *argv]
        return argv

    def environment(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        # PG* variables from the operator's shell (PGHOST, PGDATA, PGPASSWORD, ...) would
        # silently point our programs elsewhere.
        if self.inherit_environment:
            env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        else:
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
        env |= extra or {}
        env |= {
            "PGPASSFILE": str(self.passfile),
            "HOME": self.account.pw_dir,
            "USER": self.account.pw_name,
            "LOGNAME": self.account.pw_name,
        }
        return env

    def run(
        self,
        program: str,
        *args: str,
        input_text: str | None = None,
        timeout: float = COMMAND_TIMEOUT_S,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run `program` with `args`; `env` adds to (or overrides) its environment."""
        what = Path(program).name
        try:
            result = subprocess.run(
                self.command(program, args),
                input=input_text,
                capture_output=True,
                text=True,
                env=self.environment(env),
                # The service account may not be allowed into our working directory.
                cwd="/",
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise PostgresError(
                f"{what} for PostgreSQL {self.label} did not finish within {timeout:.0f} s"
            ) from None
        if check and result.returncode != 0:
            raise PostgresError(
                f"{what} for PostgreSQL {self.label} failed: {result.stderr.strip()}"
            )
        return result

    def give(self, path: Path) -> None:
        """Hand a file or directory we created to the account (when we are root)."""
        if os.geteuid() == 0:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def write_private(self, path: Path, text: str) -> None:
        """Write a file only the account can read.

        O_NOFOLLOW: the directories belong to the account, and root must not be tricked
        into writing through a link it planted.
        """
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            os.fchmod(fd, 0o600)
            if os.geteuid() == 0:
                os.fchown(fd, self.account.pw_uid, self.account.pw_gid)
            handle.write(text)


def system_tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise PostgresError(f"{name} is missing; install it: apt-get install {package}")
    return path
