"""The business a pair's database holds, as the branches would re-enter it (补录): which
tables hold loans and repayments, and which of their columns give each row's time,
amount and branch.

`host_pairs[].transactions` is what lets `dr` list, before an old primary is rewound,
the acknowledged writes the new primary does not have (runbooks/_lost_transactions.py)
in the words a branch understands: "loan 4711, 50,000.00 yuan, branch-2, 14:32:07".

```yaml
transactions:
  - {kind: loan, table: loans, at: issued_at, amount: amount, branch: branch}
  - kind: repayment
    table: repayments
    at: paid_at
    amount: amount
    branch_via: {column: loan_id, table: loans}   # the repayment's loan's branch
```
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, model_validator
from pydantic_core import PydanticCustomError

from orchestrator.inventory.names import Label
from orchestrator.inventory.strict import StrictModel

# Plain lower-case SQL names only (optionally schema-qualified): they reach queries as
# quoted identifiers, and a plain name reads the same in the inventory and in psql.
_SQL_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?")


def _check_sql_name(value: str) -> str:
    if not _SQL_NAME.fullmatch(value):
        raise PydanticCustomError(
            "sql_name",
            "a table or column here is a plain lower-case SQL name (letters, digits, '_'; "
            "'schema.table' for a table outside the search path), e.g. loans or issued_at; "
            "got {got!r}",
            {"got": value},
        )
    return value


SqlName = Annotated[str, AfterValidator(_check_sql_name)]


class BranchVia(StrictModel):
    """The branch is the parent row's: `column` of this table references `table.key`."""

    column: SqlName
    table: SqlName
    key: SqlName = "id"
    branch: SqlName = "branch"


class TransactionTable(StrictModel):
    kind: Label
    table: SqlName
    key: SqlName = "id"
    at: SqlName
    amount: SqlName | None = None
    branch: SqlName | None = None
    branch_via: BranchVia | None = None

    @model_validator(mode="after")
    def _one_branch_source(self) -> TransactionTable:
        if self.branch is not None and self.branch_via is not None:
            raise PydanticCustomError(
                "branch_source",
                "give the row's branch either as 'branch:' (a column of this table) or as "
                "'branch_via:' (its parent row's), not both",
            )
        return self
