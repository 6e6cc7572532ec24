"""Synchronous replication: the primary waits, before a commit returns, until its standby
has the commit's WAL on disk, so a failover loses no acknowledged write (RPO 0).

An operation (it changes the primary's configuration), apart from the facts that show
it: the status fact's `synchronous_standby_names` and each replica's `sync_state`.

`*` names any standby: a pair has one, whatever its application_name. The setting is
written with ALTER SYSTEM (postgresql.auto.conf, which a base backup copies to the
standby) and read again on a reload, no restart. Its danger is the other side of its
promise: a primary that waits for a standby that is gone stops every commit. So a
promoted standby (the new primary, with no standby yet) must be set asynchronous until
its own standby is back: `ASYNCHRONOUS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from orchestrator.postgresql.replication import Replica

ANY_STANDBY = "*"
# One statement each: ALTER SYSTEM refuses to run inside a transaction block, which a
# single psql -c of several statements is.
SYNCHRONOUS = (
    f"ALTER SYSTEM SET synchronous_standby_names = '{ANY_STANDBY}'",
    "SELECT pg_reload_conf()",
)
ASYNCHRONOUS = ("ALTER SYSTEM SET synchronous_standby_names = ''", "SELECT pg_reload_conf()")
# What pg_stat_replication calls a standby a commit waits for.
SYNC_STATES = ("sync", "quorum")


def waits_for_a_standby(standby_names: str | None) -> bool:
    """Whether a primary with this `synchronous_standby_names` waits for any standby."""
    return bool((standby_names or "").strip())


def synchronous_replicas(replicas: Iterable[Replica]) -> list[Replica]:
    """The streaming standbys the primary waits for."""
    return [r for r in replicas if r.streaming and r.sync_state in SYNC_STATES]
