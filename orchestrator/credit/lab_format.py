"""Reads the report-message files of the lab's credit system (format name ``lab``).

The People's Bank of China's real message formats (the credit centre's data-collection
interface specification, the MBT generator's compressed and encrypted files, and the
centre's feedback files) are not available here. This module defines the lab's plain
stand-ins and is the only place that reads them: a site with the real formats adds one
module with the same five functions (``is_batch_file``, ``is_feedback_file``,
``parse_generated``, ``parse_submitted``, ``parse_feedback``; faults raised as
``model.FormatProblem``), registers it in ``sources.FORMATS`` and names it in
``credit_reporting.format``. lab/credit/batch_files.py writes them for the lab.

All files are UTF-8 text, one record per line, fields separated by ``|``; times are
ISO 8601 with offset. Names starting with ``.`` are work in progress and never read.

**Message line** (one per acknowledged write, lab/credit/reports.py)::

    LOAN_OPEN|ORG|loan_id|borrower_id|name|id_type|id_number|amount|rate|term|status|branch|issued_at
    REPAYMENT|ORG|repayment_id|loan_id|amount|paid_at

**Generated batch** (generated directory, ``<batch_id>.batch``; the A role)::

    #BATCH|1|<batch_id>|<org code>|<generated_at>|<generated_by>|<record count>
    <message line>            (one per record, as the service wrote it)
    #END|<sha256 hex of the record lines, each with its newline>

**Submitted batch** (submitted directory, ``<batch_id>.batch``; the B role): one line
naming the submission, then the generated file verbatim::

    #SUBMITTED|1|<batch_id>|<submitted_at>|<submitted_by>
    #BATCH|...   ...   #END|...

**Feedback** (feedback directory, ``<batch_id>.feedback``; the credit centre)::

    #FEEDBACK|1|<batch_id>|<answered_at>|<accepted count>|<rejected count>
    <seq>|<kind>|<key>|ACCEPTED
    <seq>|<kind>|<key>|REJECTED|<reason code>|<reason>

``seq`` is the record's 1-based place in the batch; ``kind`` is loan_open or repayment.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from orchestrator.credit.model import (
    Feedback,
    FormatProblem,
    GeneratedBatch,
    RecordKind,
    RecordResult,
    SourceRecord,
    Submission,
)

FORMAT_VERSION = "1"
BATCH_SUFFIX = ".batch"
FEEDBACK_SUFFIX = ".feedback"
# (tag, field count, place of the record key, place of the row's time) per message line.
_LINES: dict[str, tuple[RecordKind, int, int, int]] = {
    "LOAN_OPEN": ("loan_open", 13, 2, 12),
    "REPAYMENT": ("repayment", 6, 2, 5),
}


def is_batch_file(name: str) -> bool:
    return name.endswith(BATCH_SUFFIX) and not name.startswith(".")


def is_feedback_file(name: str) -> bool:
    return name.endswith(FEEDBACK_SUFFIX) and not name.startswith(".")


def record_digest(lines: list[str]) -> str:
    """The digest a batch's #END line carries: of its record lines, each with '\\n'."""
    return hashlib.sha256("".join(f"{line}\n" for line in lines).encode("utf-8")).hexdigest()


def parse_message_line(line: str, number: int | None = None) -> SourceRecord:
    fields = line.split("|")
    shape = _LINES.get(fields[0])
    if shape is None:
        raise FormatProblem(number, f"not a message line (starts {fields[0][:20]!r})")
    kind, count, key_at, time_at = shape
    if len(fields) != count:
        raise FormatProblem(number, f"{fields[0]} has {len(fields)} fields, not {count}")
    return SourceRecord(kind, _int(fields[key_at], number), _time(fields[time_at], number))


def parse_generated(name: str, text: str) -> GeneratedBatch:
    lines = text.splitlines()
    return _batch(name, lines, offset=0)


def parse_submitted(name: str, text: str) -> Submission:
    lines = text.splitlines()
    head = _header(lines, "#SUBMITTED", 5, 1)
    batch = _batch(name, lines[1:], offset=1)
    if head[2] != batch.batch_id:
        raise FormatProblem(1, f"names batch {head[2]!r} but carries {batch.batch_id!r}")
    return Submission(batch, _time(head[3], 1), _person(head[4], 1), name)


def parse_feedback(name: str, text: str) -> Feedback:
    lines = text.splitlines()
    head = _header(lines, "#FEEDBACK", 6, 1)
    results = []
    for number, line in enumerate(lines[1:], start=2):
        if line:
            results.append(_result(line, number))
    counts = (_int(head[4], 1), _int(head[5], 1))
    accepted = sum(1 for r in results if r.accepted)
    if counts != (accepted, len(results) - accepted):
        raise FormatProblem(
            1,
            f"says {counts[0]} accepted and {counts[1]} rejected, but lists {accepted} and "
            f"{len(results) - accepted}: the file is cut short or altered",
        )
    return Feedback(head[2], _time(head[3], 1), tuple(results), name)


def _batch(name: str, lines: list[str], offset: int) -> GeneratedBatch:
    head = _header(lines, "#BATCH", 7, offset + 1)
    generated_at, generated_by = _time(head[4], offset + 1), _person(head[5], offset + 1)
    if not lines or not lines[-1].startswith("#END|"):
        raise FormatProblem(
            offset + len(lines), "no #END line: the batch is cut short (copy it again)"
        )
    body = lines[1:-1]
    records = tuple(parse_message_line(line, offset + 2 + index) for index, line in enumerate(body))
    if _int(head[6], offset + 1) != len(records):
        raise FormatProblem(offset + 1, f"says {head[6]} records but holds {len(records)}")
    digest = lines[-1].split("|", 1)[1]
    if digest != record_digest(body):
        raise FormatProblem(
            offset + len(lines),
            "the records do not match the batch's digest: changed after generation",
        )
    return GeneratedBatch(
        batch_id=head[2],
        records=records,
        generated_at=generated_at,
        generated_by=generated_by,
        digest=digest,
        file=name,
    )


def _header(lines: list[str], tag: str, count: int, number: int) -> list[str]:
    if not lines:
        raise FormatProblem(None, f"empty file; expected a {tag} line first")
    fields = lines[0].split("|")
    if fields[0] != tag:
        raise FormatProblem(number, f"expected a {tag} line, found {fields[0][:20]!r}")
    if len(fields) != count:
        raise FormatProblem(number, f"{tag} has {len(fields)} fields, not {count}")
    if fields[1] != FORMAT_VERSION:
        raise FormatProblem(number, f"format version {fields[1]!r}; this dr reads version 1")
    if not fields[2]:
        raise FormatProblem(number, "no batch id")
    return fields


def _result(line: str, number: int) -> RecordResult:
    fields = line.split("|")
    if len(fields) < 4 or fields[1] not in ("loan_open", "repayment"):
        raise FormatProblem(number, "expected SEQ|KIND|KEY|ACCEPTED or ...|REJECTED|CODE|REASON")
    kind: RecordKind = "loan_open" if fields[1] == "loan_open" else "repayment"
    key = _int(fields[2], number)
    if fields[3] == "ACCEPTED" and len(fields) == 4:
        return RecordResult(kind, key, accepted=True)
    if fields[3] == "REJECTED" and len(fields) == 6 and fields[4]:
        return RecordResult(kind, key, False, reason_code=fields[4], reason=fields[5])
    raise FormatProblem(number, "a result is ACCEPTED, or REJECTED|CODE|REASON")


def _int(value: str, number: int | None) -> int:
    if not value.isdigit():
        raise FormatProblem(number, f"{value[:20]!r} is not a whole number")
    return int(value)


def _time(value: str, number: int | None) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise FormatProblem(number, f"{value[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise FormatProblem(number, f"{value!r} has no offset; write e.g. +08:00 or Z")
    return moment


def _person(value: str, number: int) -> str:
    if not value.strip():
        raise FormatProblem(number, "no person named for this step")
    return value.strip()
