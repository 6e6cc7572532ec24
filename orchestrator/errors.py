"""The errors `dr` raises on purpose.

Every error carries a message written for the operator: what happened and what to do
next. They are raised where the fault is found and caught once, at the CLI boundary,
which maps each to its exit code. Anything else reaching the CLI is a bug in `dr`.
"""

from __future__ import annotations

from dataclasses import dataclass

from orchestrator.text import Text, as_text

# The exit codes of `dr`; README.md ("Exit codes") documents them for operators and scripts.
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3  # the operator aborted the run or paused it (Ctrl-C); `dr resume` goes on
EXIT_WAITING = 4  # a manual step or approval waits for a person and no terminal can ask
# The journal does not verify (a broken or rewritten chain, a row that differs from its
# chained event, a head below its anchor): `dr journal verify` and the reports refuse.
EXIT_UNVERIFIED = 5


class DrError(Exception):
    """Base of every error meant for the operator."""

    exit_code: int = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UserInputError(DrError):
    """The operator's input (a file, an argument, a reference) is wrong; nothing was changed."""

    exit_code = EXIT_BAD_INPUT


@dataclass(frozen=True)
class Problem:
    """One fault found in an input file, located as precisely as the file allows."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.message}"


class InventoryError(UserInputError):
    """An inventory file failed validation; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        count = len(problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{lines}\n{count} {noun} found; fix the inventory and run again.")


class PlanRefused(UserInputError):
    """`dr plan` or `dr preflight` found what would stop the run (an unknown parameter
    value, a missing inventory field); carries every problem, each with FILE:LINE."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        count = len(problems)
        super().__init__(
            f"{lines}\n计划有 {count} 个问题，运行前请修正 / {count} "
            f"problem{'' if count == 1 else 's'} in the plan; fix them before a run."
        )


class SecretUnavailable(UserInputError):
    """A secret reference (env:NAME, file:PATH) could not be resolved."""


class ModeRefused(UserInputError):
    """The requested mode does not fit the inventory or the options (e.g. drill on production)."""


class RunbookNotFound(UserInputError):
    """No runbook of that name was found on the runbook path."""


class RunbookDefinitionError(UserInputError):
    """A runbook module is malformed (duplicate step ids, unknown targets, ...)."""


class RunNotFound(UserInputError):
    """No run with that id is in the journal."""


class RunNotResumable(UserInputError):
    """The run is finished or was started by a different runbook version."""


class JournalError(DrError):
    """The journal could not be opened or written."""


class JournalNotFound(UserInputError):
    """A command that only reads was pointed at a journal that does not exist: it refuses
    rather than create an empty one and report on nothing."""


class JournalUnverified(DrError):
    """The journal, or a figure read from it, does not verify: nothing is printed from it."""

    exit_code = EXIT_UNVERIFIED


class JournalKeyMissing(UserInputError):
    """A live run, or a command that needs the journal key, found no key."""


class PluginUnavailable(DrError):
    """A command group registered by another package (the drill lab) cannot be loaded."""

    def __init__(self, name: str, target: str, cause: ImportError) -> None:
        super().__init__(
            f"`dr {name}` is installed ({target}) but cannot load: {cause}. "
            f"Install the extra it needs (for the drill lab: pip install 'dr-orchestrator[lab]')."
        )


class TransportError(DrError):
    """A transport (SSH, device CLI, NUT, Modbus, HTTP) could not reach or drive its target."""


class HostKeyRejected(TransportError):
    """The SSH host key is unknown or has changed; we refuse to talk to that host."""


class StepFailed(DrError):
    """A runbook step failed after its retries; the run stops there. The message may be
    a Text: the journal keeps its English, the operator reads the run's language."""

    def __init__(self, message: str | Text) -> None:
        self.text = as_text(message)
        super().__init__(self.text.en)


class BackupError(DrError):
    """A backup operation (restic, a database dump, a hook) failed; the message says which."""


class ResticNotInstalled(BackupError):
    """No usable restic program (missing, or older than the oldest version we support)."""


class ResticFailed(BackupError):
    """restic exited with an error we have no more specific class for."""


class RepositoryNotFound(BackupError):
    """No restic repository at the configured location (never initialised, or lost)."""


class RepositoryLocked(BackupError):
    """The repository stayed locked by another restic process for longer than we wait."""


class RepositoryUnreachable(BackupError):
    """The repository's server (SFTP host, S3 endpoint) could not be reached or refused us."""


class WrongRepositoryPassword(UserInputError):
    """The repository password reference resolves to a password the repository rejects."""


class BackupSetBusy(BackupError):
    """Another `dr` process is already working on this backup set."""


class DumpFailed(BackupError):
    """A database dump failed or could not be verified; its snapshot was removed."""


class BackupTimedOut(BackupError):
    """A restic command, database dump or hook ran past its configured time limit and
    its whole process group was stopped."""


class RestoreTestFailed(BackupError):
    """A restore test could not prove a backup restorable; the message says why."""


class RestoreFailed(BackupError):
    """A recovery's restore did not bring the data back whole; the message says why."""


class PgBackRestNotInstalled(BackupError):
    """No usable pgbackrest program (missing, or older than the oldest version we support)."""


class PgBackRestFailed(BackupError):
    """pgbackrest exited with an error we have no more specific class for."""


class ArchivingBroken(BackupError):
    """PostgreSQL's WAL does not reach the pgBackRest archive (archive_mode, archive_command)."""


class DatabaseUnreachable(BackupError):
    """pgBackRest could not connect to the PostgreSQL cluster it backs up."""


class RestoreRefused(BackupError):
    """A restore would overwrite a running cluster or a directory that is not empty."""


class IncidentNotFound(UserInputError):
    """No incident with that id is in the journal."""


class IncidentClosed(UserInputError):
    """The incident is closed; it takes no more changes or runs."""


class ReportError(DrError):
    """A report could not be produced (a missing font, an unwritable output file)."""


class CreditFilesError(UserInputError):
    """Report-message files (报文) that cannot be read as their format says; carries every
    file and line at fault, so one run shows them all."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(str(p) for p in problems)
        count = len(problems)
        super().__init__(
            f"{lines}\n报文文件有 {count} 处无法读取，请检查后重试 / {count} unreadable "
            f"place{'' if count == 1 else 's'} in the report-message files; check them and "
            "run again."
        )
