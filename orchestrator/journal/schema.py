"""Tables of the journal (SQLAlchemy Core, so SQLite and PostgreSQL share one definition).

`events` is the record of truth: append-only and hash-chained. `runs`, `steps` and
`measurements` are projections kept beside it in the same transaction so that the
engine and the reports can query state without replaying the whole chain.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("runbook", String(200), nullable=False),
    Column("runbook_digest", String(64), nullable=False),
    Column("mode", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("inventory_path", Text, nullable=False),
    Column("inventory_digest", String(64), nullable=False),
    Column("inventory_name", String(200), nullable=False),
    Column("environment", String(16), nullable=False),
    Column("reason", Text),
    Column("incident_id", String(64)),
    Column("started_by", String(200), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40)),
    Column("params", JSON, nullable=False),
    Column("options", JSON, nullable=False),
    Column("detail", Text),
    # Which process is carrying the run out, so a second `dr resume` cannot run it twice.
    Column("owner_pid", Integer),
    Column("owner_host", String(200)),
)

# Who is carrying a run out now (orchestrator/journal/run_lease.py): one row per run,
# taken in one serialised transaction, so two `dr resume` of one run cannot both go on.
run_leases = Table(
    "run_leases",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("holder", String(200)),
    Column("host", String(200)),
    Column("pid", Integer),
    Column("since", String(40)),
    Column("expires_at", Float),  # epoch seconds: compares the same on both databases
)

steps = Table(
    "steps",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("step_id", String(300), nullable=False),
    # "" when the step has no host target: keeps the unique key simple on both databases.
    Column("host", String(200), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("started_at", String(40)),
    Column("finished_at", String(40)),
    Column("result", JSON),
    Column("error", Text),
    UniqueConstraint("run_id", "step_id", "host", name="uq_step_host"),
)

events = Table(
    "events",
    metadata,
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("run_id", String(64), index=True),
    Column("at", String(40), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("step_id", String(300)),
    Column("host", String(200)),
    Column("actor", String(200)),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # "hmac-sha256:KEY_ID:HEX" under the host's journal key (chain.py); NULL for events
    # written without a key. Added to older databases by store.py's upgrade.
    Column("mac", String(120)),
)

# One row: this journal's own random id, made with the database. Anchors carry it, so
# a database replaced by another (forged) one is told apart from the one anchored.
journal_identity = Table(
    "journal_identity",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("journal_id", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)

# One row: the newest event's seq and hash. Without it, deleting the last events of the
# chain would leave a chain that still verifies.
chain_head = Table(
    "chain_head",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("seq", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("hash", String(64), nullable=False),
)

measurements = Table(
    "measurements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False, index=True),
    Column("name", String(64), nullable=False),
    Column("value_seconds", Float),
    Column("target_seconds", Float),
    Column("met", Boolean),
    Column("source", String(32), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("recorded_at", String(40), nullable=False),
)

# Incidents (orchestrator/incidents): a projection of the `incident.*` events, one row per
# incident with its current state, so `dr incident list` and the reports need no replay.
incidents = Table(
    "incidents",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("inventory_name", String(200), nullable=False),
    Column("inventory_path", Text),
    Column("category", String(16), nullable=False),
    Column("level", String(16), nullable=False),
    # When the current level was reached: the escalation timers run from here.
    Column("level_since", String(40), nullable=False),
    Column("grade", String(4)),
    Column("summary", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("opened_by", String(200), nullable=False),
    Column("closed_at", String(40)),
    Column("closed_by", String(200)),
    Column("resolution", Text),
    Column("scope", JSON, nullable=False),
    Column("outage_started_at", String(40)),
    Column("outage_ended_at", String(40)),
    Column("last_progress_at", String(40)),
    Column("on_site", JSON, nullable=False),
    Column("deadlines_met", JSON, nullable=False),
    # What stays owed after the incident: reporting days, re-entry, the immediate report
    # (incidents/records.Aftermath). Nullable: added to databases made before it.
    Column("aftermath", JSON),
    # Raised by every change: a writer that read an older version retries (two operators,
    # or an operator and the scheduler's tick, changing one incident at once).
    Column("version", Integer, nullable=False),
)

# Each notification an incident owes (an escalation notice, a deadline reminder), once:
# the unique key is what makes `dr incident tick` send it exactly once.
incident_notices = Table(
    "incident_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("incident_id", String(64), nullable=False, index=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", String(40), nullable=False),
    Column("level", String(16), nullable=False),
    Column("detail", JSON, nullable=False),
    Column("claimed_at", String(40)),
    Column("finished_at", String(40)),
)
