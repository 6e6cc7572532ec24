"""The inventory's validation queries, run against the restored database.

Each query must return one value (first column of the first row). `not_older_than` is
measured from the snapshot's time: the question is whether the backup held data as
fresh as the business expects, and the snapshot's own age is already the RPO. Dates and
timestamps without a zone are read in the inventory's timezone, as the institution
writes them.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg2

from orchestrator.inventory import RestoreExpect, RestoreValidation, format_duration

_TIMEOUT_MS = 10 * 60 * 1000


def run_validation(
    conn: Any, check: RestoreValidation, snapshot_time: datetime, zone: str
) -> dict[str, Any]:
    """The check's record; `problem` is None when the value meets every expectation."""
    record: dict[str, Any] = {
        "name": check.name,
        "database": check.database,
        "sql": check.sql,
        "expect": check.expect.model_dump(exclude_none=True),
        "value": None,
        "problem": None,
    }
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {_TIMEOUT_MS}")
            cursor.execute(check.sql)
            row = cursor.fetchone() if cursor.description else None
        conn.rollback()  # read-only by intent; nothing a query did is kept
    except psycopg2.Error as err:
        conn.rollback()
        record["problem"] = f"validation {check.name!r}: the query failed: {str(err).strip()}"
        return record
    if row is None:
        record["problem"] = f"validation {check.name!r}: the query returned no row"
        return record
    value = row[0]
    record["value"] = value.isoformat() if isinstance(value, date) else _plain(value)
    problem = _judge(check.expect, value, snapshot_time, ZoneInfo(zone))
    if problem is not None:
        record["problem"] = f"validation {check.name!r}: {problem}"
    return record


def _judge(
    expect: RestoreExpect, value: Any, snapshot_time: datetime, zone: ZoneInfo
) -> str | None:
    if value is None:
        return "the query returned NULL"
    if expect.equals is not None and not _equal(value, expect.equals):
        return f"got {value!r}, expected {expect.equals!r}"
    for bound, limit in (("min", expect.min), ("max", expect.max)):
        if limit is None:
            continue
        number = _number(value)
        if number is None:
            return f"got {value!r}, which is not a number to compare with {bound} {limit}"
        if (bound == "min" and number < limit) or (bound == "max" and number > limit):
            return f"got {_plain(value)}, expected {bound} {limit:g}"
    if expect.not_older_than is not None:
        moment = _moment(value, zone)
        if moment is None:
            return f"got {value!r}, which is not a date or timestamp"
        age = (snapshot_time - moment).total_seconds()
        if age > expect.not_older_than:
            return (
                f"newest value {moment.isoformat()} is {format_duration(age)} older than the "
                f"snapshot; expected at most {format_duration(expect.not_older_than)}"
            )
    return None


def _equal(value: Any, expected: int | float | str) -> bool:
    if isinstance(expected, str):
        return str(value) == expected
    number = _number(value)
    return number is not None and number == float(expected)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    return None


def _moment(value: Any, zone: ZoneInfo) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=zone)
    if isinstance(value, date):
        # A date counts as its whole day: compare from its last moment.
        return datetime.combine(value, time.max, tzinfo=zone)
    return None


def _plain(value: Any) -> Any:
    """JSON-friendly: Decimal and other database types as text or numbers."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, int | float | str | bool):
        return value
    return str(value)
