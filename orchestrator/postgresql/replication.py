"""Streaming replication: which standbys a primary feeds (a fact), and making a server a
standby of a primary (a fresh base backup, and the password it connects with).

A standby reaches its primary as the replication role, with the password from one
.pgpass line that the server's account reads: the password never appears on a command
line, in a journal or in the configuration that `--write-recovery-conf` writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from orchestrator.postgresql.errors import UnreadableOutput

# An old primary's data directory is kept aside (one generation) when a base backup
# replaces it: what it held after the split is evidence, not rubbish.
SET_ASIDE_SUFFIX = ".before-rebuild"


@dataclass(frozen=True)
class Upstream:
    """The primary a standby follows, as the standby connects to it. `port` may be an
    inventory template's `{port}` placeholder as well as a number."""

    host: str
    port: int | str
    user: str

    @property
    def conninfo(self) -> str:
        # dbname: pg_rewind reads files through SQL functions, which need a database.
        values = (("host", self.host), ("port", self.port), ("user", self.user))
        pairs = " ".join(f"{key}={_conninfo_value(str(value))}" for key, value in values)
        return f"{pairs} dbname=postgres"


def _conninfo_value(value: str) -> str:
    """`value` as libpq reads it in a `key=value` string: quoted when it is empty or holds
    a space, quote or backslash (so that no value can add a key of its own)."""
    if value and not any(c.isspace() or c in "'\\" for c in value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# ---- the replicas fact ----------------------------------------------------------------

REPLICAS_SQL = (
    "SELECT coalesce(json_agg(json_build_object('application_name', application_name,"
    " 'client_addr', host(client_addr), 'state', state, 'replay_lsn', replay_lsn,"
    " 'sync_state', sync_state)"
    " ORDER BY application_name, pid), '[]') FROM pg_stat_replication"
)


@dataclass(frozen=True)
class Replica:
    """A standby connected to a primary, as the primary sees it (pg_stat_replication)."""

    application_name: str | None
    client_addr: str | None
    state: str | None
    replay_lsn: str | None
    # "sync" when the primary waits for this standby's flush before a commit returns
    # (synchronous replication); "async" otherwise; None from a command that omits it.
    sync_state: str | None = None

    @property
    def streaming(self) -> bool:
        # "startup" and "catchup" come before: the standby is not yet following live.
        return self.state == "streaming"


def parse_replicas(output: str) -> list[Replica]:
    """The replicas from what `REPLICAS_SQL` printed (its last line)."""
    try:
        rows = json.loads(output.strip().splitlines()[-1])
        return [
            Replica(
                row.get("application_name"),
                row.get("client_addr"),
                row.get("state"),
                row.get("replay_lsn"),
                row.get("sync_state"),
            )
            for row in rows
        ]
    except (ValueError, IndexError, AttributeError, TypeError):
        raise UnreadableOutput(f"no JSON list of replicas in {output[-200:]!r}") from None


def streaming_from(replicas: Iterable[Replica], address: str) -> Replica | None:
    """The replica connected from `address` that streams right now, if any."""
    return next((r for r in replicas if r.client_addr == address and r.streaming), None)


# ---- making a standby --------------------------------------------------------------------


def pgpass_line(host: str, port: int | str, user: str, password: str) -> str:
    """A .pgpass line for every database on host:port (replication and the `postgres`
    database pg_rewind reads through), escaped as libpq expects ':' and '\\'."""
    fields = [host, str(port), "*", user, password]
    return ":".join(f.replace("\\", "\\\\").replace(":", "\\:") for f in fields) + "\n"


def build_base_backup(data_dir: str, upstream: Upstream, *, slot: str | None = None) -> list[str]:
    """pg_basebackup's arguments: copy `upstream` into the empty `data_dir` as its
    standby. `slot` creates a replication slot on the primary, which then keeps the WAL
    this standby still needs (at the price of the primary's disk while it is down)."""
    return [
        *("-D", data_dir, "-h", upstream.host, "-p", str(upstream.port)),
        *("-U", upstream.user, "--no-password", "--write-recovery-conf"),
        # Streams the WAL written during the copy too, and starts at once.
        *("--wal-method=stream", "--checkpoint=fast"),
        *(("--create-slot", f"--slot={slot}") if slot else ()),
    ]
