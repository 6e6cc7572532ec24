"""The lab hosts' side of a planned switchover and a standby rebuild, for `dr-lab-host`.

`lab/host_control.py` is the lab's `pg_ctlcluster` / `systemctl`; these
are the actions that turn an old primary into a standby (what `pg_rewind`,
`pg_basebackup`, `pg_controldata` and a `.pgpass` file do on a production host):

    db-checkpoint                         CHECKPOINT (a new primary's timeline on disk)
    db-controldata                        pg_controldata's report (works while stopped)
    db-replicas                           the replicas fact: a JSON list
    db-store-password                     one .pgpass line, read from stdin
    db-rewind UPSTREAM PORT USER          pg_rewind -R from the primary to follow
    db-base-backup UPSTREAM PORT USER     fresh pg_basebackup -R (old data kept aside)
    db-synchronous-on | db-synchronous-off    synchronous_standby_names '*' or '' (reload)
"""

from __future__ import annotations

import sys

from lab.postgres import Endpoint, PostgresServer
from orchestrator.postgresql.synchronous import ASYNCHRONOUS, SYNCHRONOUS

# action -> how many arguments it takes after the host and the action
STANDBY_ACTIONS = {
    "db-checkpoint": 0,
    "db-controldata": 0,
    "db-replicas": 0,
    "db-store-password": 0,
    "db-rewind": 3,
    "db-base-backup": 3,
    "db-synchronous-on": 0,
    "db-synchronous-off": 0,
}


def act_on_standby(server: PostgresServer, action: str, args: list[str]) -> int:
    """Carry out one of STANDBY_ACTIONS on `server`; errors raise PostgresLabError."""
    if action == "db-checkpoint":
        server.checkpoint()
    elif action == "db-controldata":
        print(server.control_data(), end="")
    elif action == "db-replicas":
        print(server.replicas_report(), end="")
    elif action == "db-store-password":
        server.store_upstream_password(sys.stdin.readline())
    elif action == "db-rewind":
        upstream, port, user = args
        print(server.rewind_from(Endpoint(upstream, int(port)), user), file=sys.stderr)
    elif action == "db-base-backup":
        upstream, port, user = args
        server.rebuild_from(Endpoint(upstream, int(port)), user)
    elif action in ("db-synchronous-on", "db-synchronous-off"):
        # The same statements as a production host's default, one at a time (ALTER
        # SYSTEM refuses a transaction block).
        for statement in SYNCHRONOUS if action == "db-synchronous-on" else ASYNCHRONOUS:
            server.psql(statement)
    return 0
