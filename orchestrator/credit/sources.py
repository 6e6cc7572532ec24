"""Where dr reads the report messages from, and how the three directories become batches.

The directories of the inventory's `credit_reporting:` are read whole: on this machine,
or on the credit system's host over SSH (SFTP, with the inventory's host key rules).
Every file is parsed by the format the inventory names; every unreadable file is
reported at once (CreditFilesError, exit 2) rather than skipped, since a batch dr could
not read is a batch it would otherwise call missing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from orchestrator.credit import lab_format
from orchestrator.credit.model import Batch, FormatProblem
from orchestrator.errors import CreditFilesError, Problem, UserInputError
from orchestrator.inventory import Inventory
from orchestrator.inventory.credit_reporting import CreditReporting

_Parsed = TypeVar("_Parsed")
# One parser module per format name (see lab_format's docstring for the functions).
FORMATS: dict[str, ModuleType] = {"lab": lab_format}


@dataclass(frozen=True)
class MessageFiles:
    """The three directories' files, name -> text, and where each directory is."""

    generated: dict[str, str]
    submitted: dict[str, str]
    feedback: dict[str, str]
    where: dict[str, str]


def read_message_files(settings: CreditReporting, inventory: Inventory) -> MessageFiles:
    """Read the three directories, locally or on `settings.host` over SSH."""
    directories = {
        "generated": settings.generated_dir,
        "submitted": settings.submitted_dir,
        "feedback": settings.feedback_dir,
    }
    if settings.host is None:
        contents = {role: _read_local(path) for role, path in directories.items()}
        where = dict(directories)
    else:
        contents = _read_remote(settings.host, directories, inventory)
        where = {role: f"{settings.host}:{path}" for role, path in directories.items()}
    texts = {role: _texts(files, where[role]) for role, files in contents.items()}
    return MessageFiles(texts["generated"], texts["submitted"], texts["feedback"], where)


def load_batches(files: MessageFiles, format_name: str = "lab") -> list[Batch]:
    """Parse every file and join them by batch id; raise CreditFilesError listing every
    unreadable place. Batches come in order of generation (then id)."""
    parser = FORMATS[format_name]
    problems: list[Problem] = []
    batches: dict[str, Batch] = {}

    def batch(batch_id: str) -> Batch:
        return batches.setdefault(batch_id, Batch(batch_id))

    for name, text in files.generated.items():
        if parser.is_batch_file(name):
            generated = _parsed(parser.parse_generated, files, "generated", name, text, problems)
            if generated and _named_right(generated.batch_id, name, files, "generated", problems):
                batch(generated.batch_id).generated = generated
    for name, text in files.submitted.items():
        if parser.is_batch_file(name):
            sent = _parsed(parser.parse_submitted, files, "submitted", name, text, problems)
            if sent and _named_right(sent.batch.batch_id, name, files, "submitted", problems):
                batch(sent.batch.batch_id).submission = sent
    for name, text in files.feedback.items():
        if parser.is_feedback_file(name):
            answer = _parsed(parser.parse_feedback, files, "feedback", name, text, problems)
            if answer and _named_right(answer.batch_id, name, files, "feedback", problems):
                batch(answer.batch_id).feedback = answer
    if problems:
        raise CreditFilesError(problems)
    for found in batches.values():
        _cross_check(found)
    return sorted(batches.values(), key=_generation_order)


def _cross_check(batch: Batch) -> None:
    """What the files say about each other: a submitted copy unlike the generated one,
    feedback for something never submitted, feedback that does not match the records."""
    generated, submission, feedback = batch.generated, batch.submission, batch.feedback
    if generated and submission and generated.digest != submission.batch.digest:
        batch.problems.append(
            "submitted copy differs from the generated batch: changed between the A and B "
            "roles (art. 28); find out who changed it before re-submitting"
        )
    if feedback is not None and submission is None:
        batch.problems.append("feedback for a batch that was never submitted from here")
    if feedback is not None and batch.records:
        carried = {r.identity for r in batch.records}
        answered = {r.identity for r in feedback.results}
        unknown = sorted(answered - carried)
        unanswered = sorted(carried - answered)
        if unknown:
            batch.problems.append(
                f"feedback answers {len(unknown)} record(s) the batch does not carry, e.g. "
                f"{unknown[0][0]} {unknown[0][1]}"
            )
        if unanswered:
            batch.problems.append(
                f"feedback leaves {len(unanswered)} record(s) unanswered, e.g. "
                f"{unanswered[0][0]} {unanswered[0][1]}; ask the credit centre"
            )


def _generation_order(batch: Batch) -> tuple[bool, datetime, str]:
    # Feedback with no batch of ours sorts last; times compare as instants, not as text.
    moment = batch.generated_at
    return (moment is None, moment or datetime.min.replace(tzinfo=UTC), batch.batch_id)


def _parsed(
    parse: Callable[[str, str], _Parsed],
    files: MessageFiles,
    role: str,
    name: str,
    text: str,
    problems: list[Problem],
) -> _Parsed | None:
    try:
        return parse(name, text)
    except FormatProblem as problem:
        problems.append(Problem(f"{files.where[role]}/{name}", problem.line, "", problem.message))
        return None


def _named_right(
    batch_id: str, name: str, files: MessageFiles, role: str, problems: list[Problem]
) -> bool:
    if Path(name).stem == batch_id:
        return True
    problems.append(
        Problem(
            f"{files.where[role]}/{name}",
            1,
            "",
            f"carries batch {batch_id!r}; a file is named after the batch it carries",
        )
    )
    return False


def _read_local(directory: str) -> dict[str, bytes]:
    path = Path(directory)
    try:
        entries = sorted(path.iterdir())
    except FileNotFoundError:
        raise UserInputError(
            f"{directory}: no such directory; check credit_reporting in the inventory "
            "(or create it where the credit system writes its messages)"
        ) from None
    except OSError as err:
        raise UserInputError(f"{directory}: cannot be read ({err.strerror})") from None
    found: dict[str, bytes] = {}
    for entry in entries:
        if entry.name.startswith(".") or not entry.is_file():
            continue
        try:
            found[entry.name] = entry.read_bytes()
        except OSError as err:
            raise UserInputError(f"{entry}: cannot be read ({err.strerror})") from None
    return found


def _read_remote(
    host_name: str, directories: dict[str, str], inventory: Inventory
) -> dict[str, dict[str, bytes]]:
    # Imported here: the engine brings paramiko, which only the SSH case needs.
    from orchestrator.engine.endpoints import standing_endpoint
    from orchestrator.transports.ssh import SshTransport

    endpoint = standing_endpoint(inventory.host(host_name), inventory)
    with SshTransport() as transport:
        return {role: transport.read_files(endpoint, path) for role, path in directories.items()}


def _texts(files: dict[str, bytes], where: str) -> dict[str, str]:
    texts: dict[str, str] = {}
    problems: list[Problem] = []
    for name, content in files.items():
        try:
            texts[name] = content.decode("utf-8")
        except UnicodeDecodeError as err:
            line = content[: err.start].count(b"\n") + 1
            problems.append(Problem(f"{where}/{name}", line, "", "not UTF-8 text"))
    if problems:
        raise CreditFilesError(problems)
    return texts
