"""Report-message (报文) records and files: one small pipe-separated UTF-8 line per
acknowledged change, as the credit system would later submit to the central database."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lab.credit import iso

# A made-up financial-institution code for the lab's county union.
ORG_CODE = "B10000000000LAB"
_ID_TYPE_RESIDENT_CARD = "10"  # 证件类型: 居民身份证


def message_file_name(kind: str, record_id: int, at: datetime) -> str:
    """UTC time first, so a directory listing is in write order; then kind and id."""
    return f"{at.astimezone(UTC):%Y%m%dT%H%M%S%f}Z_{kind}_{record_id}.txt"


def loan_opened(
    loan_id: int,
    borrower: tuple[Any, ...],
    amount: Decimal,
    rate: Decimal,
    term_months: int,
    status: str,
    branch: str,
    issued_at: datetime,
) -> tuple[str, str]:
    """(file name, line) for a new loan; ``borrower`` is (id, name, id_number)."""
    borrower_id, name, id_number = borrower
    fields: tuple[object, ...] = (
        "LOAN_OPEN",
        ORG_CODE,
        loan_id,
        borrower_id,
        name,
        _ID_TYPE_RESIDENT_CARD,
    )
    fields += (id_number, amount, rate, term_months, status, branch, iso(issued_at))
    return message_file_name("loan_open", loan_id, issued_at), _line(fields)


def repaid(repayment_id: int, loan_id: int, amount: Decimal, paid_at: datetime) -> tuple[str, str]:
    fields = ("REPAYMENT", ORG_CODE, repayment_id, loan_id, amount, iso(paid_at))
    return message_file_name("repayment", repayment_id, paid_at), _line(fields)


def write_message(directory: Path, file_name: str, line: str) -> None:
    """Write via a hidden temporary and rename: a crash leaves no half message."""
    temporary = directory / f".{file_name}.tmp"
    try:
        temporary.write_text(line, encoding="utf-8")
        os.replace(temporary, directory / file_name)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def _line(fields: tuple[Any, ...]) -> str:
    return "|".join(str(field).replace("|", "/").replace("\n", " ") for field in fields) + "\n"
