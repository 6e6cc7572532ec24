"""The lab credit system's two message steps: generation (A role) and submission (B role).

``python -m lab.credit.batches generate --messages DIR [--messages DIR] --generated DIR
--by NAME [--max-records 500] [--every 60 --lifetime S | --once]``

groups the per-write message files (one line each, written by lab/credit/service.py)
that no batch carries yet into batch files in the generated directory, oldest first, at
most ``--max-records`` to a batch. Which files are batched is read back from the batches
themselves (a line names the file it came from), so a restarted generator goes on where
the last one stopped and never batches a write twice. Several message directories are
read together: after a cutover the service writes on the other host.

``python -m lab.credit.batches submit --generated DIR --submitted DIR --by NAME
[--every 60 --lifetime S | --once]``

copies every generated batch not yet submitted into the submitted directory (the lab
credit centre's inbox), with a line naming who submitted it and when.

Both are bounded like every lab program (``--lifetime``, SIGTERM), and log one JSON
line per batch on stderr.
"""

from __future__ import annotations

import argparse
import threading
from datetime import datetime
from pathlib import Path

from lab.credit import DEFAULT_LIFETIME_S, log_event, stop_on_signals, utc_now
from lab.credit.batch_files import (
    BATCH_SUFFIX,
    batch_lines,
    batch_text,
    source_file_of_line,
    submission_text,
    visible_files,
    write_file,
)
from lab.credit.pacing import paced_loop

DEFAULT_MAX_RECORDS = 500
DEFAULT_EVERY_S = 60.0


class Generator:
    """The A role's step: unbatched message lines into batch files."""

    def __init__(
        self, message_dirs: list[Path], generated_dir: Path, by: str, max_records: int
    ) -> None:
        self.message_dirs = message_dirs
        self.generated_dir = generated_dir
        self.by = by
        self.max_records = max_records
        self._batched: set[str] | None = None

    def run_once(self, now: datetime | None = None) -> list[str]:
        """Write batches of what is not batched yet; return their ids."""
        self.generated_dir.mkdir(parents=True, exist_ok=True)
        batched = self._already_batched()
        pending = sorted(
            (path for d in self.message_dirs if d.is_dir() for path in d.iterdir()),
            key=lambda p: p.name,  # the name starts with the row's UTC time
        )
        lines: list[tuple[str, str]] = []
        for path in pending:
            if path.name.startswith(".") or not path.name.endswith(".txt"):
                continue
            if path.name in batched:
                continue
            line = path.read_text(encoding="utf-8").rstrip("\n")
            lines.append((path.name, line))
        written: list[str] = []
        moment = now or utc_now()
        for start in range(0, len(lines), self.max_records):
            chunk = lines[start : start + self.max_records]
            batch_id = self._new_id(moment, len(written) + 1)
            text = batch_text(batch_id, [line for _, line in chunk], moment, self.by)
            write_file(self.generated_dir, batch_id + BATCH_SUFFIX, text)
            batched.update(name for name, _ in chunk)
            written.append(batch_id)
            log_event("batch_generated", batch=batch_id, records=len(chunk), by=self.by)
        return written

    def _already_batched(self) -> set[str]:
        if self._batched is None:
            self._batched = set()
            for path in visible_files(self.generated_dir, BATCH_SUFFIX):
                records, _ = batch_lines(path.read_text(encoding="utf-8"))
                self._batched.update(source_file_of_line(line) for line in records)
        return self._batched

    def _new_id(self, moment: datetime, seq: int) -> str:
        stamp = moment.strftime("%Y%m%dT%H%M%S%fZ")
        while True:
            batch_id = f"B{stamp}-{seq:04d}"
            if not (self.generated_dir / (batch_id + BATCH_SUFFIX)).exists():
                return batch_id
            seq += 1


class Submitter:
    """The B role's step: generated batches into the centre's inbox."""

    def __init__(self, generated_dir: Path, submitted_dir: Path, by: str) -> None:
        self.generated_dir = generated_dir
        self.submitted_dir = submitted_dir
        self.by = by

    def run_once(self, now: datetime | None = None) -> list[str]:
        self.submitted_dir.mkdir(parents=True, exist_ok=True)
        if not self.generated_dir.is_dir():
            return []
        sent = {p.name for p in visible_files(self.submitted_dir, BATCH_SUFFIX)}
        submitted = []
        for path in visible_files(self.generated_dir, BATCH_SUFFIX):
            if path.name in sent:
                continue
            batch_id = path.name.removesuffix(BATCH_SUFFIX)
            text = submission_text(
                batch_id, path.read_text(encoding="utf-8"), now or utc_now(), self.by
            )
            write_file(self.submitted_dir, path.name, text)
            submitted.append(batch_id)
            log_event("batch_submitted", batch=batch_id, by=self.by)
        return submitted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.credit.batches")
    steps = parser.add_subparsers(dest="step", required=True)
    generate = steps.add_parser("generate", help="the A role: batch the message files")
    generate.add_argument("--messages", type=Path, action="append", required=True)
    generate.add_argument("--generated", type=Path, required=True)
    generate.add_argument("--max-records", type=int, default=DEFAULT_MAX_RECORDS)
    submit = steps.add_parser("submit", help="the B role: send batches to the centre")
    submit.add_argument("--generated", type=Path, required=True)
    submit.add_argument("--submitted", type=Path, required=True)
    for step in (generate, submit):
        step.add_argument("--by", required=True, help="the person in this role")
        step.add_argument("--every", type=float, default=DEFAULT_EVERY_S)
        step.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
        step.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    if args.step == "generate":
        if args.max_records < 1:
            parser.error("--max-records must be at least 1")
        worker: Generator | Submitter = Generator(
            args.messages, args.generated, args.by, args.max_records
        )
    else:
        worker = Submitter(args.generated, args.submitted, args.by)
    if args.once:
        worker.run_once()
        return 0
    stop = threading.Event()
    stop_on_signals(stop)
    log_event("started", step=args.step, by=args.by)
    paced_loop(
        stop,
        interval=args.every,
        lifetime=args.lifetime,
        act=lambda: _guarded(worker),
        save_status=lambda: None,
        state=lambda: "running",
    )
    log_event("stopped", step=args.step, reason="signal" if stop.is_set() else "lifetime")
    return 0


def _guarded(worker: Generator | Submitter) -> None:
    # A full disk or a vanished directory must not end the loop: the next pass retries.
    try:
        worker.run_once()
    except (OSError, ValueError) as err:
        log_event("pass_failed", error=f"{type(err).__name__}: {err}")


if __name__ == "__main__":
    raise SystemExit(main())
