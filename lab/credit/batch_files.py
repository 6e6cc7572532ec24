"""The lab credit system's batch, submission and feedback files, as the lab writes them.

The format is documented (and read by dr) in orchestrator/credit/lab_format.py; this
module is the writing side, kept to the standard library like the other lab programs.
A file is written under a hidden temporary name and renamed, so a reader (dr, the
submitter, the lab credit centre) never sees half of one.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path

from lab.credit import iso
from lab.credit.reports import ORG_CODE, message_file_name, write_message

VERSION = "1"
BATCH_SUFFIX = ".batch"
FEEDBACK_SUFFIX = ".feedback"
# Which field of a message line holds the record's key and the row's time, per tag.
_LINE_SHAPES = {"LOAN_OPEN": ("loan_open", 13, 2, 12), "REPAYMENT": ("repayment", 6, 2, 5)}


def record_of_line(line: str) -> tuple[str, int, datetime]:
    """(kind, key, row time) of one message line; ValueError when it is not one."""
    fields = line.rstrip("\n").split("|")
    shape = _LINE_SHAPES.get(fields[0])
    if shape is None or len(fields) != shape[1]:
        raise ValueError(f"not a message line: {line[:40]!r}")
    kind, _, key_at, time_at = shape
    return kind, int(fields[key_at]), datetime.fromisoformat(fields[time_at])


def source_file_of_line(line: str) -> str:
    """The per-write message file a line came from (its name is derived from the line)."""
    kind, key, at = record_of_line(line)
    return message_file_name(kind, key, at)


def digest(lines: list[str]) -> str:
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode("utf-8")).hexdigest()


def batch_text(batch_id: str, lines: list[str], generated_at: datetime, by: str) -> str:
    head = f"#BATCH|{VERSION}|{batch_id}|{ORG_CODE}|{iso(generated_at)}|{by}|{len(lines)}"
    return "\n".join([head, *lines, f"#END|{digest(lines)}"]) + "\n"


def submission_text(batch_id: str, batch: str, submitted_at: datetime, by: str) -> str:
    return f"#SUBMITTED|{VERSION}|{batch_id}|{iso(submitted_at)}|{by}\n{batch}"


def feedback_text(batch_id: str, answered_at: datetime, results: list[str]) -> str:
    """`results` are the lines ``SEQ|KIND|KEY|ACCEPTED`` or ``...|REJECTED|CODE|REASON``."""
    rejected = sum(1 for r in results if "|REJECTED|" in r)
    head = f"#FEEDBACK|{VERSION}|{batch_id}|{iso(answered_at)}|{len(results) - rejected}|{rejected}"
    return "\n".join([head, *results]) + "\n"


def batch_lines(text: str) -> tuple[list[str], bool]:
    """The record lines of a batch's text (with or without its #SUBMITTED line) and
    whether they match the batch's own digest."""
    lines = [line for line in text.splitlines() if line]
    if lines and lines[0].startswith("#SUBMITTED|"):
        lines = lines[1:]
    if len(lines) < 2 or not lines[0].startswith("#BATCH|") or not lines[-1].startswith("#END|"):
        return [], False
    records = lines[1:-1]
    return records, lines[-1].split("|", 1)[1] == digest(records)


# Batches, submissions and feedback are written as the service writes a message: via a
# hidden temporary and a rename, so no reader meets half a file.
write_file = write_message


def visible_files(directory: Path, suffix: str) -> list[Path]:
    """The finished files with `suffix` in `directory`, in name order (time order)."""
    return sorted(
        p for p in directory.iterdir() if p.name.endswith(suffix) and not p.name.startswith(".")
    )
