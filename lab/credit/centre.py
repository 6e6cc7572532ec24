"""The lab's credit centre (征信中心): answers each submitted batch with a feedback file.

``python -m lab.credit.centre --inbox SUBMITTED_DIR --feedback DIR [--delay 5]
[--every 5 --lifetime S | --once]``

Every batch in the inbox without feedback, submitted at least ``--delay`` seconds ago,
gets ``<batch_id>.feedback`` (format: orchestrator/credit/lab_format.py). Each record is
accepted, except by these deterministic rules, so that rejections can be tested:

- **E001** 报文校验失败 / batch check failed: the batch's records do not match its own
  digest (changed after generation); every record of it is rejected;
- **E101** 证件号码校验位错误 / id number check digit wrong: a LOAN_OPEN whose resident
  id number's last character is not its GB 11643 check digit;
- **E201** 还款金额超过贷款金额 / repayment exceeds the loan: a REPAYMENT larger than
  the amount of its loan as reported in a LOAN_OPEN this centre accepted (one repayment
  against the loan's amount; a loan the centre never saw, like the lab's seeded ones,
  is not checked).

What the centre knows of loans is rebuilt at start from the batches it already
answered, so a restarted centre judges as the previous one would have.
"""

from __future__ import annotations

import argparse
import threading
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from lab.credit import DEFAULT_LIFETIME_S, log_event, stop_on_signals, utc_now
from lab.credit.batch_files import (
    BATCH_SUFFIX,
    FEEDBACK_SUFFIX,
    batch_lines,
    feedback_text,
    record_of_line,
    visible_files,
    write_file,
)
from lab.credit.pacing import paced_loop
from lab.credit.schema import id_number_valid

REASONS = {
    "E001": "报文校验失败 batch check failed",
    "E101": "证件号码校验位错误 id number check digit wrong",
    "E201": "还款金额超过贷款金额 repayment exceeds the loan",
}
_ID_NUMBER_AT = 6  # LOAN_OPEN's resident id number
_LOAN_AMOUNT_AT = 7
_REPAID_LOAN_AT, _REPAID_AMOUNT_AT = 3, 4


class CreditCentre:
    def __init__(self, inbox: Path, feedback_dir: Path, delay_s: float = 0.0) -> None:
        self.inbox = inbox
        self.feedback_dir = feedback_dir
        self.delay = timedelta(seconds=delay_s)
        self._loans: dict[int, Decimal] | None = None

    def run_once(self, now: datetime | None = None) -> list[str]:
        """Answer every batch that is due; return their ids."""
        self.feedback_dir.mkdir(parents=True, exist_ok=True)
        if not self.inbox.is_dir():
            return []
        loans = self._known_loans()
        moment = now or utc_now()
        answered = []
        for path in visible_files(self.inbox, BATCH_SUFFIX):
            batch_id = path.name.removesuffix(BATCH_SUFFIX)
            if (self.feedback_dir / (batch_id + FEEDBACK_SUFFIX)).exists():
                continue
            text = path.read_text(encoding="utf-8")
            submitted_at = _submitted_at(text)
            if submitted_at is not None and moment < submitted_at + self.delay:
                continue
            try:
                results = judge(text, loans)
            except ValueError as err:
                # A record the centre cannot read: no feedback, as a real centre would
                # bounce the file; dr then reports the batch's feedback as missing.
                log_event("batch_unreadable", batch=batch_id, error=str(err))
                continue
            write_file(
                self.feedback_dir,
                batch_id + FEEDBACK_SUFFIX,
                feedback_text(batch_id, moment, results),
            )
            rejected = sum(1 for r in results if "|REJECTED|" in r)
            log_event("feedback_written", batch=batch_id, records=len(results), rejected=rejected)
            answered.append(batch_id)
        return answered

    def _known_loans(self) -> dict[int, Decimal]:
        if self._loans is None:
            self._loans = {}
            for path in visible_files(self.inbox, BATCH_SUFFIX):
                feedback = self.feedback_dir / path.name.replace(BATCH_SUFFIX, FEEDBACK_SUFFIX)
                if feedback.exists():
                    _learn(path.read_text(encoding="utf-8"), feedback, self._loans)
        return self._loans


def judge(text: str, loans: dict[int, Decimal]) -> list[str]:
    """The feedback lines for one submitted batch; `loans` learns the accepted loans."""
    records, intact = batch_lines(text)
    results = []
    for seq, line in enumerate(records, start=1):
        kind, key, _ = record_of_line(line)
        fields = line.split("|")
        code = None
        if not intact:
            code = "E001"
        elif kind == "loan_open" and not id_number_valid(fields[_ID_NUMBER_AT]):
            code = "E101"
        elif kind == "repayment":
            loan_amount = loans.get(int(fields[_REPAID_LOAN_AT]))
            if loan_amount is not None and Decimal(fields[_REPAID_AMOUNT_AT]) > loan_amount:
                code = "E201"
        if code is None:
            if kind == "loan_open":
                loans[key] = Decimal(fields[_LOAN_AMOUNT_AT])
            results.append(f"{seq}|{kind}|{key}|ACCEPTED")
        else:
            results.append(f"{seq}|{kind}|{key}|REJECTED|{code}|{REASONS[code]}")
    return results


def _learn(batch: str, feedback: Path, loans: dict[int, Decimal]) -> None:
    records, _ = batch_lines(batch)
    accepted = {
        int(fields[2])
        for fields in (
            line.split("|") for line in feedback.read_text(encoding="utf-8").splitlines()
        )
        if len(fields) == 4 and fields[1] == "loan_open" and fields[3] == "ACCEPTED"
    }
    for line in records:
        kind, key, _ = record_of_line(line)
        if kind == "loan_open" and key in accepted:
            loans[key] = Decimal(line.split("|")[_LOAN_AMOUNT_AT])


def _submitted_at(text: str) -> datetime | None:
    first = text.split("\n", 1)[0].split("|")
    if first[0] != "#SUBMITTED" or len(first) < 4:
        return None
    try:
        return datetime.fromisoformat(first[3])
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.credit.centre")
    parser.add_argument("--inbox", type=Path, required=True, help="the submitted directory")
    parser.add_argument("--feedback", type=Path, required=True)
    parser.add_argument("--delay", type=float, default=5.0, help="seconds before answering")
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--lifetime", type=float, default=DEFAULT_LIFETIME_S)
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    centre = CreditCentre(args.inbox, args.feedback, args.delay)
    if args.once:
        centre.run_once()
        return 0
    stop = threading.Event()
    stop_on_signals(stop)
    log_event("started", inbox=str(args.inbox))

    def answer() -> None:
        try:
            centre.run_once()
        except (OSError, ValueError) as err:  # the next pass retries
            log_event("pass_failed", error=f"{type(err).__name__}: {err}")

    paced_loop(
        stop,
        interval=args.every,
        lifetime=args.lifetime,
        act=answer,
        save_status=lambda: None,
        state=lambda: "running",
    )
    log_event("stopped", reason="signal" if stop.is_set() else "lifetime")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
