"""Errors of a PostgreSQL cluster that `dr` runs on this machine."""

from __future__ import annotations

from orchestrator.errors import DrError

INSTALL_HINT = "install PostgreSQL 15: apt-get install postgresql-15"


class PostgresError(DrError):
    """A local PostgreSQL cluster could not be set up, started, stopped or queried."""


class PostgresNotInstalled(PostgresError):
    """The PostgreSQL 15 programs (or the postgres system user) are missing."""


class PortInUse(PostgresError):
    """Another program already listens on the address and port this server needs."""
