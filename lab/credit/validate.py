"""Checks on the JSON a client sends the credit service: a bad field is a 400 that says
which field and why, never a database error."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from lab.credit.pool import Reply

_FEN = Decimal("0.01")


def number(value: Any, field: str, low: Decimal, high: Decimal) -> Decimal:
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        raise Reply(400, f"{field} must be a number") from None
    if not (parsed.is_finite() and low <= parsed <= high):
        raise Reply(400, f"{field} must lie between {low} and {high}")
    return parsed


def money(value: Any, field: str) -> Decimal:
    amount = number(value, field, _FEN, Decimal("999999999999.99"))
    if amount != amount.quantize(_FEN):
        raise Reply(400, f"{field} has more than two decimals (fen)")
    return amount.quantize(_FEN)


def integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Reply(400, f"{field} must be an integer from {low} to {high}")
    return value


def text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 40 or not value.isprintable():
        raise Reply(400, f"{field} must be printable text of 1 to 40 characters")
    return value
