"""What a `postgres-pitr` set asks of the scheduler beyond its base backups: when
`pgbackrest check` and `pgbackrest verify` run (`checks:`), and the monthly
point-in-time restore test (`restore_test:`).

The restore test restores the cluster to a random moment of the last `period` into a
scratch place, then proves it: the validation queries (as a restic set's), and, where
the set names one, a table of acknowledged writes (`writes_table`: one row per write
the business was told succeeded, with its id and the time it was written). Every such
row written before the moment must be in the copy and none written after it. Rows
written within `in_flight` of the moment may be either: a row's time is taken before
its commit, so a write in flight at the moment is neither promised nor forbidden.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field, PositiveInt, model_validator
from pydantic_core import PydanticCustomError

from orchestrator.inventory.backup_sets import RestoreValidation
from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import Cron
from orchestrator.inventory.names import Label
from orchestrator.inventory.strict import StrictModel

_SCHEDULE_FIELD = re.compile(r"^[0-9A-Za-z*/,?#-]+$")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _check_schedule(value: str) -> str:
    # As a Cron, plus D#N (the Nth weekday of the month: "0 2 * * 0#1" is the first
    # Sunday), as scheduler.restore_test_schedule takes it; the scheduler checks the rest.
    fields = value.split()
    if len(fields) not in (5, 6) or not all(_SCHEDULE_FIELD.match(f) for f in fields):
        raise PydanticCustomError(
            "cron",
            "a schedule is a cron expression with 5 fields, e.g. '0 2 * * 0#1' for 02:00 on "
            "the first Sunday of each month (6 with seconds first); got {count} field(s)",
            {"count": len(fields)},
        )
    return value


def _check_identifier(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise PydanticCustomError(
            "sql_identifier",
            "write a column name as letters, digits and '_' (not starting with a digit), "
            "e.g. committed_at",
        )
    return value


def _check_table(value: str) -> str:
    parts = value.split(".")
    if len(parts) > 2 or not all(_IDENTIFIER.match(p) for p in parts):
        raise PydanticCustomError(
            "sql_table",
            "write the table as NAME or SCHEMA.NAME (letters, digits and '_'), e.g. "
            "repayments or credit.repayments",
        )
    return value


Schedule = Annotated[str, AfterValidator(_check_schedule)]
SqlIdentifier = Annotated[str, AfterValidator(_check_identifier)]
SqlTable = Annotated[str, AfterValidator(_check_table)]


class PitrChecks(StrictModel):
    """When the scheduler proves the archive sound. `check` (a WAL switch reaches every
    repository) is cheap: daily. `verify` reads every file of every repository (the
    offsite one over the network): weekly, before Sunday's full backup."""

    check: Cron = "30 6 * * *"
    verify: Cron = "0 3 * * 6"


class PitrRestoreTest(StrictModel):
    """The scheduled point-in-time restore test of a `postgres-pitr` set."""

    # Default: scheduler.restore_test_schedule (the first Sunday of the month, 02:00).
    schedule: Schedule | None = None
    # Which repository it restores from (1 = the first listed).
    repository: PositiveInt = 1
    # The database the checks run in; default: the host pair's database.
    database: Label | None = None
    # The moment is chosen at random in this much time before the test (and within
    # the repository's recovery window).
    period: Duration = Field(default=31 * 86400, ge=60)
    validations: list[RestoreValidation] = []
    # Acknowledged writes, one row each: the table, its id column and its time column.
    writes_table: SqlTable | None = None
    id_column: SqlIdentifier = "id"
    time_column: SqlIdentifier = "committed_at"
    in_flight: Duration = Field(default=1, ge=0)
    # Default: the set's own rto/rpo.
    rto: Duration | None = None
    rpo: Duration | None = None

    @model_validator(mode="after")
    def _columns_need_a_table(self) -> PitrRestoreTest:
        # Compared with the defaults, not by presence: a dumped model is read back whole.
        fields = type(self).model_fields
        columns = [
            name
            for name in ("id_column", "time_column", "in_flight")
            if getattr(self, name) != fields[name].default
        ]
        if columns and self.writes_table is None:
            raise PydanticCustomError(
                "writes_table",
                "{fields} describe the table of acknowledged writes: name it with "
                "writes_table (e.g. writes_table: repayments)",
                {"fields": ", ".join(columns)},
            )
        return self
