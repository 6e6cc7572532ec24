"""The inventory's `credit_reporting:` section: where the credit system keeps its report
messages (报文), who holds the two roles, and how long the credit centre may take to answer.

```yaml
credit_reporting:
  host: mbt-1                 # the message-generation (MBT) machine; omit: this machine
  generated_dir: /var/lib/credit-report/reporting/generated   # 已生成报文
  submitted_dir: /var/lib/credit-report/reporting/submitted   # 已上报报文
  feedback_dir: /var/lib/credit-report/reporting/feedback     # 反馈报文
  format: lab                 # the file formats (orchestrator/credit/lab_format.py)
  feedback_within: 1d         # past this after submission, missing feedback is owed
  roles:                      # art. 28: generation and submission by A and B roles
    generator: credit-a       # contact names
    submitter: credit-b
    rotated_on: 2026-10-08    # when the two last swapped roles
    rotate_every: 90d
```

Why 90 days by default: art. 28 asks for a periodic swap without a number. A quarter
matches the quarterly management summary and the administrators' self-inspection
(art. 31), so a missed swap is seen at the next quarter's review at the latest; an
institution with a stricter internal rule writes its own period.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import Field, model_validator

from orchestrator.inventory.durations import Duration
from orchestrator.inventory.field_types import AbsolutePath
from orchestrator.inventory.names import Label, Name
from orchestrator.inventory.strict import StrictModel

DEFAULT_ROTATION_DAYS = 90
# The centre normally answers a batch within hours; a day leaves room for a night and
# still flags a missing answer before art. 13's next-working-day deadline has passed.
DEFAULT_FEEDBACK_WITHIN_S = 24 * 3600


class CreditRoles(StrictModel):
    """The A and B roles of art. 28, by contact name."""

    generator: Label
    submitter: Label
    rotated_on: date
    rotate_every: Duration = Field(default=DEFAULT_ROTATION_DAYS * 86400, gt=0)

    @model_validator(mode="after")
    def _two_people(self) -> CreditRoles:
        if self.generator == self.submitter:
            raise ValueError(
                f"{self.generator!r} is named both generator and submitter: art. 28 gives "
                "generation and submission to two different people (A and B roles); name "
                "another contact as submitter"
            )
        return self

    def rotation_due(self) -> date:
        return self.rotated_on + timedelta(seconds=self.rotate_every)


class CreditReporting(StrictModel):
    # None: the directories are on the machine dr runs on.
    host: Name | None = None
    generated_dir: AbsolutePath
    submitted_dir: AbsolutePath
    feedback_dir: AbsolutePath
    # Which parser reads the files; a site's real format is one more module and name.
    format: Literal["lab"] = "lab"
    feedback_within: Duration = Field(default=DEFAULT_FEEDBACK_WITHIN_S, ge=0)
    roles: CreditRoles
