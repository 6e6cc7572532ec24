"""What goes wrong with PostgreSQL: a cluster `dr` runs on this machine, or what a
server (any, local or remote) printed about itself."""

from __future__ import annotations

from orchestrator.errors import DrError

INSTALL_HINT = "install PostgreSQL 15: apt-get install postgresql-15"


class PostgresError(DrError):
    """A local PostgreSQL cluster could not be set up, started, stopped or queried."""


class PostgresNotInstalled(PostgresError):
    """The PostgreSQL 15 programs (or the postgres system user) are missing."""


class PortInUse(PostgresError):
    """Another program already listens on the address and port this server needs."""


class UnreadableOutput(DrError):
    """A server's status query or report printed something other than the fact asked for
    (a hand-written inventory command that prints another shape, an error message)."""
