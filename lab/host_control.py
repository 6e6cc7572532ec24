"""The lab hosts' database and credit-service control, as runbooks reach it over SSH.

`STATE/bin/dr-lab-host HOST ACTION` (installed by `dr lab up`; the lab inventory's
`host_pairs[].control` names it) plays the part that `pg_ctlcluster` and `systemctl`
play on a production host:

    db-status        the status fact (orchestrator/postgresql/status.py): one JSON line
    db-start | db-stop | db-promote | db-start-read-only
    service-start | service-stop | service-running (exit 0 while it runs)

The database facts print what a production host's default command prints (the same
query), and the operations run the same program arguments: the runbooks read and act
on a lab host as on a production one.

Hosts: dc-a and dc-b (the credit pair) and `backup`, the backup room's host, whose
cluster directory (STATE/hosts/backup/pg/data) stays empty until a runbook restores the
credit database into it (`restore_cluster`); then `db-start` starts it (recovering WAL
from the repositories through its restore_command) and `service-start` runs the credit
service there against that host's own database (127.0.0.1 in its namespace).

It runs as root inside the host's namespace (sshd lives there); a host that is powered
off has no sshd, so nothing here is reachable then, exactly as on real hardware.
Errors print one line on stderr and exit 1.
"""

from __future__ import annotations

import sys

from lab.lab import Lab
from lab.standby_control import STANDBY_ACTIONS, act_on_standby
from lab.topology import LabTopology
from orchestrator.errors import DrError

# dc-a and dc-b are the credit pair; the backup room's host is where it is restored.
HOSTS = ("dc-a", "dc-b", "backup")
ACTIONS = (
    "db-status",
    "db-start",
    "db-stop",
    "db-promote",
    "db-start-read-only",
    "service-start",
    "service-stop",
    "service-running",
    *STANDBY_ACTIONS,
)


def act(lab: Lab, host: str, action: str, extra: list[str] | None = None) -> int:
    topo = LabTopology(branches=lab.state.load().branches)
    server = lab.postgres(topo, host)
    if action in STANDBY_ACTIONS:
        return act_on_standby(server, action, extra or [])
    if action == "db-status":
        print(server.status_report(), end="")
    elif action == "db-start":
        server.start()
    elif action == "db-stop":
        server.stop("fast")
    elif action == "db-promote":
        server.promote()
    elif action == "db-start-read-only":
        server.start_read_only()
    elif action == "service-start":
        lab.start_credit_service(host)
    elif action == "service-stop":
        lab.stop_credit_service(host)
    elif action == "service-running":
        return 0 if lab.credit_service_running(host) else 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    arity = 2 + STANDBY_ACTIONS.get(args[1] if len(args) > 1 else "", 0)
    if len(args) != arity or args[0] not in HOSTS or args[1] not in ACTIONS:
        print(
            f"usage: dr-lab-host {'|'.join(HOSTS)} {'|'.join(ACTIONS)}",
            file=sys.stderr,
        )
        return 2
    try:
        return act(Lab(), args[0], args[1], args[2:])
    except DrError as err:
        print(f"dr-lab-host {args[0]} {args[1]}: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
