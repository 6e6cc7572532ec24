"""Cross-references: every name an inventory uses must name something the inventory defines.

These checks read the raw document rather than the validated model so that they still run
when some other part of the file is invalid: the operator gets every problem in one pass.
Values of the wrong type are skipped here; validation reports those.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from orchestrator.inventory.names import did_you_mean
from orchestrator.inventory.yaml_lines import DataPath


class Finding(NamedTuple):
    path: DataPath
    message: str


# Each named section: where its list lives, what one item is called, which key names it.
_SECTIONS: dict[str, tuple[DataPath, str, str]] = {
    "sites": (("sites",), "site", "name"),
    "hosts": (("hosts",), "host", "name"),
    "host pairs": (("host_pairs",), "host pair", "name"),
    "lines": (("lines",), "line", "name"),
    "switches": (("switches",), "switch", "name"),
    "UPS units": (("power", "ups"), "UPS", "name"),
    "generators": (("power", "generators"), "generator", "name"),
    "backup sets": (("backup_sets",), "backup set", "name"),
    "contacts": (("contacts",), "contact", "name"),
    "targets": (("targets",), "target for system", "system"),
    "systems": (("systems",), "system", "name"),
}
# What each kind of `recover:` names, and the section it must be found in.
_RECOVERY_REFERENCES = {"database": "backup sets", "files": "backup sets", "service": "host pairs"}


def check_references(
    data: dict[str, Any], line_of: Callable[[DataPath], int | None]
) -> list[Finding]:
    return _Checker(data, line_of).run()


def _items(data: Any, section: DataPath) -> list[tuple[DataPath, dict[str, Any]]]:
    node = data
    for step in section:
        if isinstance(node, dict):
            node = node.get(step)
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return []
    if not isinstance(node, list):
        return []
    return [((*section, i), item) for i, item in enumerate(node) if isinstance(item, dict)]


class _Checker:
    def __init__(self, data: dict[str, Any], line_of: Callable[[DataPath], int | None]) -> None:
        self._data = data
        self._line_of = line_of
        self._findings: list[Finding] = []
        self._names = {
            plural: [
                item[key] for _, item in _items(data, section) if isinstance(item.get(key), str)
            ]
            for plural, (section, _, key) in _SECTIONS.items()
        }
        # A section with an unnamed (or badly named) item cannot tell whether a reference
        # is unknown: it may mean that item. Validation reports the bad name instead.
        self._all_named = {
            plural: all(isinstance(item.get(key), str) for _, item in _items(data, section))
            for plural, (section, _, key) in _SECTIONS.items()
        }

    def run(self) -> list[Finding]:
        for plural in _SECTIONS:
            self._duplicates(plural)
        self._hosts()
        self._host_pairs()
        self._lines()
        self._switches()
        self._ups()
        self._escalation()
        self._contact_sites()
        self._logins()
        self._backup_sets()
        self._systems()
        self._journal_anchors()
        self._service_watch()
        self._credit_reporting()
        return self._findings

    def _duplicates(self, plural: str) -> None:
        section, singular, key = _SECTIONS[plural]
        first: dict[str, DataPath] = {}
        for path, item in _items(self._data, section):
            name = item.get(key)
            if not isinstance(name, str):
                continue
            if name in first:
                line = self._line_of((*first[name], key))
                self._add(
                    (*path, key),
                    f"duplicate {singular} {key} {name!r} (first at line {line}); "
                    f"each {singular} needs its own {key}",
                )
            else:
                first[name] = path

    def _ref(self, path: DataPath, value: Any, plural: str) -> None:
        """Report `value` if it is a name that section `plural` does not define."""
        known = self._names[plural]
        if isinstance(value, str) and value not in known and self._all_named[plural]:
            singular = _SECTIONS[plural][1]
            hint = did_you_mean(value, known, plural)
            self._add(path, f"no {singular} named {value!r}; {hint}")

    def _refs(self, path: DataPath, values: Any, plural: str) -> None:
        """Like _ref, for a list of names."""
        if isinstance(values, list):
            for i, value in enumerate(values):
                self._ref((*path, i), value, plural)

    def _hosts(self) -> None:
        for path, host in _items(self._data, ("hosts",)):
            self._ref((*path, "site"), host.get("site"), "sites")

    def _host_pairs(self) -> None:
        for path, pair in _items(self._data, ("host_pairs",)):
            self._ref((*path, "primary"), pair.get("primary"), "hosts")
            self._ref((*path, "standby"), pair.get("standby"), "hosts")
            primary = pair.get("primary")
            if isinstance(primary, str) and primary == pair.get("standby"):
                self._add(
                    (*path, "standby"),
                    f"primary and standby are the same host {primary!r}; "
                    "a pair needs two different hosts",
                )
            for fence_path, fence in _items(self._data, (*path, "fencing")):
                if fence.get("method") == "ups-outlet":
                    self._ref((*fence_path, "ups"), fence.get("ups"), "UPS units")
            database = pair.get("database")
            addresses = (
                database.get("replication_addresses") if isinstance(database, dict) else None
            )
            for host in addresses if isinstance(addresses, dict) else {}:
                if host not in (primary, pair.get("standby")):
                    self._add(
                        (*path, "database", "replication_addresses", host),
                        f"{host!r} is not a host of this pair; list only "
                        f"{primary!r} and {pair.get('standby')!r}",
                    )

    def _lines(self) -> None:
        sites = self._attribute("sites", "kind")
        networks = self._attribute("switches", "network")
        for path, line in _items(self._data, ("lines",)):
            self._ref((*path, "site"), line.get("site"), "sites")
            self._ref((*path, "switch"), line.get("switch"), "switches")
            site, switch, network = line.get("site"), line.get("switch"), line.get("network")
            kind = sites.get(site) if isinstance(site, str) else None
            if isinstance(kind, str) and kind != "branch":
                self._add(
                    (*path, "site"), f"site {site!r} is a {kind} site; lines belong to branch sites"
                )
            switch_network = networks.get(switch) if isinstance(switch, str) else None
            both_known = isinstance(network, str) and isinstance(switch_network, str)
            if both_known and switch_network != network:
                self._add(
                    (*path, "switch"),
                    f"switch {switch!r} is on the {switch_network} network but this line "
                    f"is on the {network} network",
                )

    def _switches(self) -> None:
        for path, switch in _items(self._data, ("switches",)):
            self._ref((*path, "site"), switch.get("site"), "sites")
            self._ref((*path, "standby"), switch.get("standby"), "switches")
            standby = switch.get("standby")
            if isinstance(standby, str) and standby == switch.get("name"):
                self._add((*path, "standby"), "a switch cannot be its own standby")
            self._standby_has_every_port(path, switch)
            ports = switch.get("ports")
            for port in switch.get("port_domains") or {}:
                if isinstance(ports, dict) and str(port) not in {str(p) for p in ports}:
                    self._add(
                        (*path, "port_domains", port),
                        f"port {port!r} has a domain but is not one of this switch's ports; "
                        "list it under ports",
                    )

    def _standby_has_every_port(self, path: DataPath, switch: dict[str, Any]) -> None:
        """A standby takes each cable in the port of the same name, so it needs them all."""
        standby, ports = switch.get("standby"), switch.get("ports")
        if not isinstance(standby, str):
            return
        standby_ports = self._attribute("switches", "ports").get(standby)
        if not isinstance(ports, dict) or not isinstance(standby_ports, dict):
            return
        missing = sorted({str(p) for p in ports} - {str(p) for p in standby_ports})
        if missing and standby != switch.get("name"):
            self._add(
                (*path, "standby"),
                f"standby switch {standby!r} lacks port(s) {', '.join(missing)}: each cable "
                "moves to the standby's port of the same name, so list them under its ports",
            )

    def _ups(self) -> None:
        for path, ups in _items(self._data, ("power", "ups")):
            self._refs((*path, "protects"), ups.get("protects"), "hosts")
            self._ref((*path, "vendor_contact"), ups.get("vendor_contact"), "contacts")

    def _escalation(self) -> None:
        escalation = self._data.get("escalation")
        if not isinstance(escalation, dict):
            return
        for level, names in escalation.items():
            self._refs(("escalation", level), names, "contacts")

    def _contact_sites(self) -> None:
        for path, contact in _items(self._data, ("contacts",)):
            self._ref((*path, "site"), contact.get("site"), "sites")

    def _logins(self) -> None:
        drill = self._data.get("drill")
        if isinstance(drill, dict):
            self._refs(("drill", "auto_approve_by"), drill.get("auto_approve_by"), "contacts")
        self._unique_logins()

    def _unique_logins(self) -> None:
        """One OS account is one person: two contacts with one login could each be the
        other, and the starter could approve their own run as the second."""
        first: dict[str, str] = {}
        for path, contact in _items(self._data, ("contacts",)):
            login, name = contact.get("login"), contact.get("name")
            if not isinstance(login, str):
                continue
            if login in first:
                self._add(
                    (*path, "login"),
                    f"login {login!r} is already contact {first[login]!r}'s: each person "
                    "logs in with an account of their own",
                )
            else:
                first[login] = str(name)

    def _journal_anchors(self) -> None:
        # The backup host an anchor file lives on (journal_settings.py), and the roles a
        # notice goes to: a role nobody holds would anchor nowhere, silently.
        roles = {c.get("role") for _, c in _items(self._data, ("contacts",))}
        for path, anchor in _items(self._data, ("journal", "anchors")):
            place = anchor.get("ssh_file")
            if isinstance(place, dict):
                self._ref((*path, "ssh_file", "host"), place.get("host"), "hosts")
            notify = anchor.get("notify")
            if isinstance(notify, dict) and isinstance(notify.get("roles"), list):
                for index, role in enumerate(notify["roles"]):
                    if role not in roles:
                        self._add(
                            (*path, "notify", "roles", index),
                            f"no contact holds role {role!r}: the anchor notice would reach "
                            "nobody; give a contact that role or name another",
                        )

    def _service_watch(self) -> None:
        # A vantage is a site (the watch checks it the way its `check:` says) or this
        # machine; a misspelt branch would silently never be watched.
        scheduler = self._data.get("scheduler")
        watch = scheduler.get("service_watch") if isinstance(scheduler, dict) else None
        vantages = watch.get("vantages") if isinstance(watch, dict) else None
        if isinstance(vantages, list):
            for index, vantage in enumerate(vantages):
                if vantage != "orchestrator":
                    self._ref(("scheduler", "service_watch", "vantages", index), vantage, "sites")

    def _credit_reporting(self) -> None:
        # The two role holders are people dr knows (contacts), and the host one it reaches.
        section = self._data.get("credit_reporting")
        if not isinstance(section, dict):
            return
        self._ref(("credit_reporting", "host"), section.get("host"), "hosts")
        roles = section.get("roles")
        if isinstance(roles, dict):
            for role in ("generator", "submitter"):
                self._ref(("credit_reporting", "roles", role), roles.get(role), "contacts")

    def _backup_sets(self) -> None:
        for path, backup_set in _items(self._data, ("backup_sets",)):
            self._ref((*path, "host"), backup_set.get("host"), "hosts")
            self._ref((*path, "host_pair"), backup_set.get("host_pair"), "host pairs")
            for db_path, database in _items(self._data, (*path, "databases")):
                self._ref((*db_path, "host_pair"), database.get("host_pair"), "host pairs")
            self._pitr_clusters(path, backup_set)

    def _pitr_clusters(self, path: DataPath, backup_set: dict[str, Any]) -> None:
        """A postgres-pitr set's `clusters:` name hosts, at least one of them of its pair
        (that is the cluster archived; the others are places to restore into)."""
        clusters = _items(self._data, (*path, "clusters"))
        for cluster_path, cluster in clusters:
            self._ref((*cluster_path, "host"), cluster.get("host"), "hosts")
        pair = self._attribute("host pairs", "primary"), self._attribute("host pairs", "standby")
        name = backup_set.get("host_pair")
        if not clusters or not isinstance(name, str) or name not in pair[0]:
            return
        members = [str(pair[0][name]), str(pair[1].get(name))]
        if not any(cluster.get("host") in members for _, cluster in clusters):
            self._add(
                (*path, "clusters"),
                f"no cluster on a host of pair {name!r} ({' or '.join(members)}): list "
                "where the pair's database lives, the cluster pgBackRest archives",
            )

    def _systems(self) -> None:
        kinds = self._attribute("backup sets", "kind")
        wanted_kind = {"database": "postgres-pitr", "files": "restic"}
        depends: dict[str, list[str]] = {}
        for path, system in _items(self._data, ("systems",)):
            self._refs((*path, "depends_on"), system.get("depends_on"), "systems")
            if isinstance(system.get("name"), str) and isinstance(system.get("depends_on"), list):
                depends[system["name"]] = [d for d in system["depends_on"] if isinstance(d, str)]
            recover = system.get("recover")
            if not isinstance(recover, dict):
                continue
            for key, plural in _RECOVERY_REFERENCES.items():
                value = recover.get(key)
                self._ref((*path, "recover", key), value, plural)
                kind = (kinds.get(value) or "restic") if isinstance(value, str) else None
                if key in wanted_kind and value in kinds and kind != wanted_kind[key]:
                    self._add(
                        (*path, "recover", key),
                        f"backup set {value!r} is of kind {kind}; recover: {key} needs a "
                        f"{wanted_kind[key]} set",
                    )
        cycle = _cycle(depends)
        if cycle:
            index = next(
                i
                for i, (_, s) in enumerate(_items(self._data, ("systems",)))
                if s.get("name") == cycle[0]
            )
            self._add(
                ("systems", index, "depends_on"),
                f"systems depend on each other in a circle ({' -> '.join(cycle)}); "
                "one of them must come back first",
            )

    def _attribute(self, plural: str, key: str) -> dict[str, Any]:
        """name -> item[key] for the items of section `plural` that have a usable name."""
        section, _, name_key = _SECTIONS[plural]
        items = _items(self._data, section)
        return {i[name_key]: i.get(key) for _, i in items if isinstance(i.get(name_key), str)}

    def _add(self, path: DataPath, message: str) -> None:
        self._findings.append(Finding(path, message))


def _cycle(depends: dict[str, list[str]]) -> list[str] | None:
    """One circle of dependencies (names, first repeated at the end), or None."""
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]) -> list[str] | None:
        if state.get(name) == "done" or name not in depends:
            return None
        if state.get(name) == "open":
            return [*trail[trail.index(name) :], name]
        state[name] = "open"
        for after in depends[name]:
            found = visit(after, [*trail, name])
            if found:
                return found
        state[name] = "done"
        return None

    for name in depends:
        found = visit(name, [])
        if found:
            return found
    return None
