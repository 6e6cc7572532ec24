"""The lab's message-generation system (报文生成系统) and its credit centre.

Three bounded programs, started by `dr lab up` after the credit service: the A role's
generator batches the service's message files (lab/credit/batches.py), the B role's
submitter sends the batches to the centre's inbox, and the lab credit centre answers
with feedback (lab/credit/centre.py). `dr` reads their directories through the
backup-room host, the lab's stand-in for a separate reporting machine: a site loss at a
data centre leaves the reporting records, as it would a bank's MBT machine in another
room. They live under the lab's state directory, not on that host's data disk (a tmpfs
its sshd does not see, mounted for the disk-full fault). The
generator reads the message directories of both data-centre hosts, since after a
cutover the service writes on the other one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lab.state import LabState

REPORTING_HOST = "backup"
MESSAGE_HOSTS = ("dc-a", "dc-b")
# The two roles of art. 28, as contacts of the lab inventory.
GENERATOR = "credit-a"
SUBMITTER = "credit-b"
# A batch every 10 s (a real system batches daily): a drill, and the lab test of the
# aftermath, see writes batched, submitted and answered within seconds.
BATCH_EVERY_S = 10
CENTRE_EVERY_S = 5
CENTRE_DELAY_S = 5


def reporting_dirs(state: LabState) -> dict[str, Path]:
    base = state.root / "reporting"
    return {role: base / role for role in ("generated", "submitted", "feedback")}


def programs(state: LabState, lifetime_s: float) -> dict[str, list[str]]:
    """name -> argv of each program, for the lab's process list."""
    dirs = reporting_dirs(state)
    messages = [
        arg
        for host in MESSAGE_HOSTS
        for arg in ("--messages", str(state.host_dir(host) / "credit-report" / "messages"))
    ]
    common = ["--lifetime", str(lifetime_s)]
    return {
        "credit-generate": [
            *(sys.executable, "-m", "lab.credit.batches", "generate", *messages),
            *("--generated", str(dirs["generated"]), "--by", GENERATOR),
            *("--every", str(BATCH_EVERY_S), *common),
        ],
        "credit-submit": [
            *(sys.executable, "-m", "lab.credit.batches", "submit"),
            *("--generated", str(dirs["generated"]), "--submitted", str(dirs["submitted"])),
            *("--by", SUBMITTER, "--every", str(BATCH_EVERY_S), *common),
        ],
        "credit-centre": [
            *(sys.executable, "-m", "lab.credit.centre"),
            *("--inbox", str(dirs["submitted"]), "--feedback", str(dirs["feedback"])),
            *("--delay", str(CENTRE_DELAY_S), "--every", str(CENTRE_EVERY_S), *common),
        ],
    }
