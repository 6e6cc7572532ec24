"""The commands that drive PostgreSQL on a Debian host (PostgreSQL 15, cluster `main`):
the defaults of the inventory's `host_pairs[].control`.

They are built from this package's facts and operations, the same ones the drill lab's
host script runs, so a production host and a lab host print the same text for the
runbooks' parsers. They run over SSH as root. The two that follow a primary are built
for it (`rewind`, `base_backup`: FOLLOW), its values quoted for each shell that reads
them; REWIND and BASE_BACKUP show their shape with the placeholders an inventory's own
command would use.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

from orchestrator.postgresql.old_timeline import read_only_options
from orchestrator.postgresql.promote import STANDBY_SIGNAL, build_promote
from orchestrator.postgresql.replication import (
    REPLICAS_SQL,
    SET_ASIDE_SUFFIX,
    Upstream,
    build_base_backup,
)
from orchestrator.postgresql.rewind import CHECKPOINT_SQL, build_rewind
from orchestrator.postgresql.status import CONTROL_DATA_ENV, STATUS_SQL, build_control_data
from orchestrator.postgresql.synchronous import ASYNCHRONOUS, SYNCHRONOUS

PG_VERSION, CLUSTER = "15", "main"
PG_BIN = f"/usr/lib/postgresql/{PG_VERSION}/bin"
PG_DATA = f"/var/lib/postgresql/{PG_VERSION}/{CLUSTER}"
# pg_ctl's own wait for a promotion; the runbook's step timeout is longer.
PROMOTE_WAIT_S = 60

_AS_POSTGRES = "sudo -u postgres"
_FOLLOWED = Upstream("{upstream}", "{port}", "{replication_user}")
# Words a shell takes as they are (placeholders included): left unquoted, so the
# defaults read like what an operator would type.
_PLAIN = re.compile(r"[\w@%+=:,./{}-]+")


def _join(args: Sequence[str]) -> str:
    return " ".join(a if _PLAIN.fullmatch(a) else shlex.quote(a) for a in args)


def _psql(*statements: str) -> str:
    # Double quotes keep the SQL's own single quotes readable; nothing in it may be
    # special inside them. One -c per statement: each runs in its own transaction.
    for sql in statements:
        if any(c in sql for c in '"$`\\'):
            raise ValueError(f"SQL with shell-special characters: {sql!r}")
    commands = " ".join(f'-c "{sql}"' for sql in statements)
    return f"{_AS_POSTGRES} psql -XAtq {commands}"


def rewind(upstream: Upstream) -> str:
    """pg_rewind of the local cluster onto `upstream`."""
    return f"{_AS_POSTGRES} {PG_BIN}/pg_rewind {_join(build_rewind(PG_DATA, upstream))}"


def base_backup(upstream: Upstream) -> str:
    """Set the local cluster aside and copy `upstream`'s. The copy's arguments are quoted
    for the inner shell, and the whole script once more for the outer one."""
    kept = PG_DATA + SET_ASIDE_SUFFIX
    script = (
        f"rm -rf {kept} && {{ [ ! -e {PG_DATA} ] || mv {PG_DATA} {kept}; }} && "
        f"{PG_BIN}/pg_basebackup {_join(build_base_backup(PG_DATA, upstream))}"
    )
    return f"{_AS_POSTGRES} sh -c {shlex.quote(script)}"


# Facts: they print what status.py and replication.py parse.
STATUS = _psql(STATUS_SQL)
REPLICAS = _psql(REPLICAS_SQL)
_LOCALE = [f"{name}={value}" for name, value in CONTROL_DATA_ENV.items()]
CONTROL_DATA = _join([*_LOCALE, f"{PG_BIN}/pg_controldata", *build_control_data(PG_DATA)])

# Operations.
START = f"pg_ctlcluster {PG_VERSION} {CLUSTER} start"
STOP = f"pg_ctlcluster {PG_VERSION} {CLUSTER} stop -m fast"
START_READ_ONLY = (
    f"{_AS_POSTGRES} touch {PG_DATA}/{STANDBY_SIGNAL} && "
    f"pg_ctlcluster {PG_VERSION} {CLUSTER} start -- -o {shlex.quote(read_only_options())}"
)
PROMOTE = f"{_AS_POSTGRES} {PG_BIN}/pg_ctl {_join(build_promote(PG_DATA, PROMOTE_WAIT_S))}"
CHECKPOINT = _psql(CHECKPOINT_SQL)
SYNCHRONOUS_ON = _psql(*SYNCHRONOUS)
SYNCHRONOUS_OFF = _psql(*ASYNCHRONOUS)
# One .pgpass line on stdin (replication.pgpass_line), never on the command line.
STORE_PASSWORD = f"{_AS_POSTGRES} sh -c 'umask 077 && cat > ~/.pgpass'"
REWIND = rewind(_FOLLOWED)
BASE_BACKUP = base_backup(_FOLLOWED)
# The defaults that follow a primary, by field: built with the real upstream, never
# filled in as templates (their placeholders sit inside quotes).
FOLLOW = {"db_rewind": rewind, "db_base_backup": base_backup}

# By the inventory's `host_pairs[].control` field each one stands in for.
DEFAULTS = {
    "db_status": STATUS,
    "db_start": START,
    "db_stop": STOP,
    "db_promote": PROMOTE,
    "db_checkpoint": CHECKPOINT,
    "db_controldata": CONTROL_DATA,
    "db_replicas": REPLICAS,
    "db_store_password": STORE_PASSWORD,
    "db_rewind": REWIND,
    "db_base_backup": BASE_BACKUP,
    "db_synchronous_on": SYNCHRONOUS_ON,
    "db_synchronous_off": SYNCHRONOUS_OFF,
    "db_start_read_only": START_READ_ONLY,
}
