"""Our inventory as an Ansible inventory: groups per site, role, tag and pair; host vars
for addresses and SSH settings; what each role of `ansible/site.yml` deploys per host.

Secrets stay references: an `env:NAME` or `file:PATH` becomes an Ansible lookup that
reads the value on the controller when a task uses it, so the exported file can be kept,
printed and diffed like the inventory it comes from.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from orchestrator.engine.endpoints import host_key_policy
from orchestrator.errors import UserInputError
from orchestrator.fleet.systemd_calendar import on_calendar

if TYPE_CHECKING:
    from orchestrator.inventory import BackupSet, Host, Inventory, SecretRef, Ups

HEADER = """\
# Ansible inventory exported by `dr inventory ansible` from {source}.
# Do not edit: change the dr inventory and export again. Secrets are lookups of the
# environment or of files, read on the controller only when a task needs them.
"""

# Ansible warns about (and may rewrite) group names that are not identifiers.
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]")
# Repository kinds the agent host reaches with nothing but the password: a local path or
# a REST server. SFTP and S3 need keys the orchestrator keeps; those sets stay on it.
_AGENT_REPOSITORIES = re.compile(r"^(/|rest:)")
PYTHON = "/usr/bin/python3"


def group_name(kind: str, name: str) -> str:
    return _NOT_IDENTIFIER.sub("_", f"{kind}_{name}")


def secret_lookup(ref: SecretRef) -> str:
    """The Jinja expression that reads `ref` on the controller; an unset variable is an
    error (Ansible would otherwise hand over an empty password)."""
    target = ref.target.replace("\\", "\\\\").replace("'", "\\'")
    if ref.kind == "env":
        return f"{{{{ lookup('ansible.builtin.env', '{target}', default=Undefined) }}}}"
    return f"{{{{ lookup('ansible.builtin.file', '{target}') }}}}"


def ansible_inventory(inventory: Inventory, host_root: Path | None = None) -> dict[str, Any]:
    """The inventory as Ansible's YAML inventory structure.

    `host_root` is for the drill lab, whose hosts share one filesystem: each host's
    files then land under HOST_ROOT/HOST (`dr_root`) and nothing system-wide (users,
    systemd) is changed."""
    groups: dict[str, set[str]] = {}

    def add(group: str, host: str) -> None:
        groups.setdefault(group, set()).add(host)

    for host in inventory.hosts:
        add(group_name("site", host.site), host.name)
        add(group_name("kind", inventory.site(host.site).kind), host.name)
        for role in host.roles:
            add(group_name("role", role), host.name)
        for tag in host.tags:
            add(group_name("tag", tag), host.name)
    pair_vars: dict[str, dict[str, Any]] = {}
    for pair in inventory.host_pairs:
        both = group_name("pair", pair.name)
        for member in ("primary", "standby"):
            host = getattr(pair, member)
            add(both, host)
            add(f"{both}_{member}", host)
        pair_vars[both] = {
            "dr_pair": {
                "name": pair.name,
                "service": pair.service,
                "vip": str(pair.vip),
                "vip_interface": pair.vip_interface,
            }
        }
    for backup_set in inventory.restic_sets:
        add("dr_backup_agents", backup_set.host)
    for ups in inventory.power.ups:
        for protected in ups.protects:
            add("dr_nut_clients", protected)
    for host in inventory.hosts:
        if "dr-scheduler" in host.roles:
            add("dr_scheduler", host.name)
    _refuse_clashes(inventory, groups)
    children: dict[str, Any] = {}
    for name in sorted(groups):
        children[name] = {"hosts": {h: None for h in sorted(groups[name])}}
        if name in pair_vars:
            children[name]["vars"] = pair_vars[name]
    return {
        "all": {
            "vars": _common_vars(inventory, host_root),
            "hosts": {h.name: _host_vars(inventory, h, host_root) for h in inventory.hosts},
            "children": children,
        }
    }


def render(inventory: Inventory, host_root: Path | None = None) -> str:
    body = yaml.safe_dump(
        ansible_inventory(inventory, host_root), sort_keys=False, allow_unicode=True, width=1000
    )
    # `hosts: {name: null}` is how Ansible's YAML inventory lists a member; show it bare.
    body = body.replace(": null\n", ":\n")
    return HEADER.format(source=inventory.source_path or inventory.name) + body


def _common_vars(inventory: Inventory, host_root: Path | None) -> dict[str, Any]:
    common: dict[str, Any] = {
        "dr_inventory_name": inventory.name,
        "dr_environment": inventory.environment,
        "dr_manage_system": host_root is None,
    }
    if inventory.source_path is not None:
        common["dr_inventory_file"] = str(inventory.source_path.resolve())
    if inventory.scheduler.textfile_dir is not None:
        # The scheduler host's role makes it writable for the scheduler's account.
        common["dr_textfile_dir"] = str(inventory.scheduler.textfile_dir)
    return common


def _host_vars(inventory: Inventory, host: Host, host_root: Path | None) -> dict[str, Any]:
    ssh = host.ssh
    known_hosts = ssh.known_hosts or inventory.known_hosts
    # The one host-key rule of every connection; an export serves no single run, so the
    # inventory's environment says whether it is for a drill.
    policy = host_key_policy(ssh.host_key_policy, drill=inventory.environment == "drill")
    checking = "accept-new" if policy == "accept-new" else "yes"
    options = [f"-o StrictHostKeyChecking={checking}", f"-o ConnectTimeout={ssh.connect_timeout:g}"]
    if known_hosts is not None:
        options.insert(0, f"-o UserKnownHostsFile={known_hosts}")
    values: dict[str, Any] = {
        "ansible_host": str(host.address),
        "ansible_port": ssh.port,
        "ansible_user": ssh.user,
        "ansible_python_interpreter": PYTHON,
        "ansible_ssh_common_args": " ".join(options),
    }
    if ssh.key_file is not None:
        values["ansible_ssh_private_key_file"] = str(ssh.key_file)
        values["dr_orchestrator_public_key"] = (
            f"{{{{ lookup('ansible.builtin.file', '{ssh.key_file}.pub') }}}}"
        )
    if ssh.password is not None:
        values["ansible_password"] = secret_lookup(ssh.password)
    values["dr_site"] = host.site
    values["dr_site_kind"] = inventory.site(host.site).kind
    values["dr_roles"] = list(host.roles)
    if host_root is not None:
        root = host_root / host.name
        values["dr_root"] = str(root)
        # Ansible's remote scratch directory would otherwise be the real ~/.ansible.
        values["ansible_remote_tmp"] = str(root / ".ansible" / "tmp")
    sets = [b for b in inventory.restic_sets if b.host == host.name]
    if sets:
        values["dr_backup_sets"] = [
            _agent_set(b, inventory.timezone) for b in sets if _agent_can_reach(b)
        ]
        kept = [b.name for b in sets if not _agent_can_reach(b)]
        if kept:
            values["dr_backup_sets_on_orchestrator"] = kept
    ups_units = [u for u in inventory.power.ups if host.name in u.protects]
    if ups_units:
        values["dr_ups"] = [_nut_monitor(u) for u in ups_units]
    return values


def _agent_can_reach(backup_set: BackupSet) -> bool:
    # Database dumps need the database's credentials, which stay with the orchestrator.
    return bool(backup_set.paths) and bool(_AGENT_REPOSITORIES.match(backup_set.repository))


def _agent_set(backup_set: BackupSet, timezone: str) -> dict[str, Any]:
    retention = {k: v for k, v in backup_set.retention.model_dump().items() if v is not None}
    agent: dict[str, Any] = {
        "name": backup_set.name,
        "repository": backup_set.repository,
        "password": secret_lookup(backup_set.password),
        "paths": [str(p) for p in backup_set.paths],
        "tags": list(backup_set.tags),
        "retention": retention,
    }
    if backup_set.schedule is not None:
        agent["schedule"] = backup_set.schedule
        # The agent's systemd timer fires on these (the scheduler reads `schedule`).
        agent["on_calendar"] = on_calendar(backup_set.schedule, timezone)
    return agent


def _nut_monitor(ups: Ups) -> dict[str, Any]:
    monitor: dict[str, Any] = {
        "name": ups.name,
        "ups_name": ups.ups_name,
        "nut_host": ups.nut_host,
        "nut_port": ups.nut_port,
        "username": ups.username or "",
    }
    if ups.password is not None:
        monitor["password"] = secret_lookup(ups.password)
    return monitor


def _refuse_clashes(inventory: Inventory, groups: dict[str, set[str]]) -> None:
    # Two names that differ only in '-' vs '_' would fall into one Ansible group.
    seen: dict[str, str] = {}
    sources = [("site", s.name) for s in inventory.sites]
    sources += [("role", r) for h in inventory.hosts for r in h.roles]
    sources += [("tag", t) for h in inventory.hosts for t in h.tags]
    sources += [("pair", p.name) for p in inventory.host_pairs]
    for kind, name in dict.fromkeys(sources):
        group = group_name(kind, name)
        if group in seen and seen[group] != name:
            raise UserInputError(
                f"{kind} names {seen[group]!r} and {name!r} both become the Ansible group "
                f"{group!r}; rename one of them in the inventory"
            )
        seen[group] = name
    clash = set(groups) & {h.name for h in inventory.hosts}
    if clash:
        raise UserInputError(
            f"host name(s) {', '.join(sorted(clash))} equal an exported group name; "
            "rename the host(s) in the inventory"
        )
