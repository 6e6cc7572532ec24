"""The configuration files `dr` writes into a cluster it runs: their contents only.

Our settings go into files of our own (``dr.conf`` for the cluster, ``dr-instance.conf``
for this server's port and addresses) that ``postgresql.conf`` includes last, so they
override initdb's defaults and ALTER SYSTEM still wins. ``pg_hba.conf`` and
``pg_ident.conf`` are ours whole.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import ip_address, ip_interface

HEADER = "# Written by dr (orchestrator/postgresql); edits here are lost.\n"
ADMIN_MAP = "dr_admin"
INCLUDES = "include_if_exists = 'dr.conf'\ninclude_if_exists = 'dr-instance.conf'\n"


def cluster_settings(*, fast: bool) -> dict[str, str]:
    """``dr.conf``: ready for streaming replication; ``fast`` trades durability for speed
    (throwaway test and scratch servers only)."""
    settings = {
        "wal_level": "replica",
        "max_wal_senders": "10",
        "max_replication_slots": "10",
        # Lets a standby without a slot catch up after a short outage.
        "wal_keep_size": "'256MB'",
        "hot_standby": "on",
        "password_encryption": "'scram-sha-256'",
        # Several servers may share one machine (the lab, the tests, a restore test).
        "shared_buffers": "'64MB'",
        "log_line_prefix": "'%m [%p] %q%u@%d '",
    }
    if fast:
        settings |= {"fsync": "off", "synchronous_commit": "off"}
    return settings


def instance_settings(
    *, port: int, listen_address: str, socket_dir: str, name: str
) -> dict[str, str]:
    """``dr-instance.conf``: what belongs to this server, not to its data; rewritten at
    every start because a standby's copy arrives with the primary's port and addresses."""
    return {
        "port": str(port),
        "listen_addresses": conf_string(listen_address),
        "unix_socket_directories": conf_string(socket_dir),
        "cluster_name": conf_string(name),
    }


def conf_file(settings: dict[str, str]) -> str:
    return HEADER + "".join(f"{key} = {value}\n" for key, value in settings.items())


def with_includes(main_conf: str) -> str | None:
    """``postgresql.conf`` with our includes appended, or None when it has them already."""
    if INCLUDES in main_conf:
        return None
    return f"{main_conf.rstrip()}\n\n# Added by dr\n{INCLUDES}"


def access_rules(superuser: str, networks: Iterable[str]) -> str:
    """``pg_hba.conf``: the administrators by peer identity, everyone else by SCRAM."""
    rules = [
        f"local all {superuser} peer map={ADMIN_MAP}",
        f"local replication {superuser} peer map={ADMIN_MAP}",
        "local all all scram-sha-256",
        "local replication all scram-sha-256",
    ]
    for network in networks:
        rules.append(f"host all all {network} scram-sha-256")
        rules.append(f"host replication all {network} scram-sha-256")
    return HEADER + "\n".join(rules) + "\n"


def administrators(superuser: str, accounts: Iterable[str]) -> str:
    """``pg_ident.conf``: these OS accounts administer the server as ``superuser``."""
    return HEADER + "".join(f"{ADMIN_MAP} {user} {superuser}\n" for user in accounts)


def default_networks(listen_address: str) -> list[str]:
    """The listen address's /24 (IPv4) or /64 (IPv6), plus loopback.

    A wider or narrower subnet is the caller's to pass. A host name or a wildcard listen
    address gives loopback only, never the whole world.
    """
    loopback = ["127.0.0.0/8", "::1/128"]
    try:
        address = ip_address(listen_address)
    except ValueError:
        return loopback
    if address.is_unspecified or address.is_loopback:
        return loopback
    prefix = 24 if address.version == 4 else 64
    network = str(ip_interface(f"{address}/{prefix}").network)
    return list(dict.fromkeys([network, *loopback]))


def conf_string(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"
