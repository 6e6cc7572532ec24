"""`dr inventory check|show`: validate an inventory file and show what it contains."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from rich.table import Table
from rich.text import Text

from orchestrator.cli.console import console, error_console, printable
from orchestrator.cli.options import InventoryOption
from orchestrator.errors import UserInputError
from orchestrator.inventory import Inventory, SecretRef, format_duration, load_inventory
from orchestrator.inventory.cleartext import cleartext_warnings
from orchestrator.inventory.secrets import secret_warning
from orchestrator.inventory.workdays_file import calendar_warnings
from orchestrator.private_files import write_atomically

app = typer.Typer(
    help="Check and show inventories (资产清单): sites, hosts, lines, power, backups, contacts.",
    no_args_is_help=True,
)

FileArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="[FILE]", help="The inventory YAML file (or -i FILE).", show_default=False
    ),
]
# Every other command names its inventory with -i: these take it both ways.
FileOption = Annotated[
    Path | None,
    typer.Option(
        "--inventory", "-i", help="The inventory YAML file (the same as FILE).", show_default=False
    ),
]


def _the_file(file: Path | None, option: Path | None) -> Path:
    if file is not None and option is not None and file != option:
        raise UserInputError(
            f"two inventories given ({file} and -i {option}): give one, as FILE or as -i FILE"
        )
    chosen = file or option
    if chosen is None:
        raise UserInputError("name the inventory: FILE or -i FILE (e.g. -i inventory.yaml)")
    return chosen


@app.command()
def check(file: FileArg = None, inventory_file: FileOption = None) -> None:
    """Validate FILE; list every problem as FILE:LINE: field: message (exit 2) or say ok."""
    file = _the_file(file, inventory_file)
    inventory = load_inventory(file)
    _warn_about_secrets(inventory)
    today = datetime.now(ZoneInfo(inventory.timezone)).date()
    for warning in [*cleartext_warnings(inventory), *calendar_warnings(inventory, today)]:
        error_console.print(Text(f"warning: {warning}", style="yellow"), soft_wrap=True)
    _warn_about_credit_roles(inventory)
    summary = f"{file}: ok — {_summary(inventory)} (environment: {inventory.environment})"
    # soft_wrap: one line per result, whatever the terminal width, so scripts can grep it.
    console.print(Text(summary), soft_wrap=True)


@app.command()
def show(
    file: FileArg = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the validated inventory as JSON.")
    ] = False,
    inventory_file: FileOption = None,
) -> None:
    """Show FILE as validated: defaults filled in, paths made absolute, secrets as references."""
    inventory = load_inventory(_the_file(file, inventory_file))
    if as_json:
        # Written raw, not through rich, so the output is exactly the JSON (no wrapping).
        sys.stdout.write(inventory.model_dump_json(indent=2) + "\n")
        return
    _print_tables(inventory)


@app.command("ansible")
def ansible(
    inventory: InventoryOption,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to FILE instead of standard output."),
    ] = None,
    host_root: Annotated[
        Path | None,
        typer.Option(
            "--host-root",
            help="Drill lab only: deploy each host's files under DIR/HOST (the lab's hosts "
            "share one filesystem) and change no users or services.",
        ),
    ] = None,
) -> None:
    """Export the inventory as an Ansible inventory for ansible/site.yml (secrets as lookups)."""
    from orchestrator.fleet.ansible_inventory import render

    inv = load_inventory(inventory)
    if host_root is not None and inv.environment != "drill":
        raise UserInputError(
            f"--host-root is for the drill lab; {inventory} is a {inv.environment} inventory"
        )
    text = render(inv, host_root.resolve() if host_root else None)
    if output is None:
        sys.stdout.write(text)
        return
    write_atomically(output, text)
    console.print(Text(f"{output}: Ansible inventory of {_summary(inv)}"), soft_wrap=True)


def _warn_about_credit_roles(inventory: Inventory) -> None:
    """The report-message roles past their swap date (art. 28), in the institution's day."""
    if inventory.credit_reporting is None:
        return
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from orchestrator.credit.roles import rotation_warning
    from orchestrator.text import default_lang

    today = datetime.now(UTC).astimezone(ZoneInfo(inventory.timezone)).date()
    warning = rotation_warning(inventory.credit_reporting.roles, today)
    if warning is not None:
        text = Text(f"warning: {warning.text(default_lang())}", style="yellow")
        error_console.print(text, soft_wrap=True)


def _warn_about_secrets(inventory: Inventory) -> None:
    # One line per reference, not per use: ten switches sharing env:X give one warning.
    uses: dict[SecretRef, list[str]] = {}
    for where, ref in inventory.secret_refs():
        uses.setdefault(ref, []).append(where)
    for ref, places in uses.items():
        warning = secret_warning(ref)
        if warning:
            shown = ", ".join(places[:3]) + (
                f" and {len(places) - 3} more" if len(places) > 3 else ""
            )
            text = Text(f"warning: {warning} (used by {shown})", style="yellow")
            error_console.print(text, soft_wrap=True)


def _count(n: int, singular: str, plural: str | None = None) -> str:
    return f"{n} {singular if n == 1 else plural or singular + 's'}"


def _summary(inv: Inventory) -> str:
    return ", ".join(
        [
            _count(len(inv.hosts), "host"),
            _count(len(inv.host_pairs), "pair"),
            _count(len(inv.sites), "site"),
            _count(len(inv.lines), "line"),
            _count(len(inv.switches), "switch", "switches"),
            _count(len(inv.power.ups), "UPS", "UPS"),
            _count(len(inv.power.generators), "generator"),
            _count(len(inv.backup_sets), "backup set"),
            _count(len(inv.contacts), "contact"),
            _count(len(inv.targets), "target"),
        ]
    )


def _table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    if not rows:
        return
    table = Table(title=title, title_justify="left", title_style="bold")
    for column in columns:
        table.add_column(column)
    for row in rows:
        # Text cells: names from the file are shown as written, never read as rich markup;
        # escaped before the table measures them (the console would escape them anyway).
        table.add_row(*(Text("" if v is None else printable(str(v))) for v in row))
    console.print(table)


def _print_tables(inv: Inventory) -> None:
    console.print(
        Text.assemble(
            (printable(inv.name), "bold"),
            f"  environment: {inv.environment}  timezone: {inv.timezone}\n",
            f"source: {inv.source_path}\nsha256: {inv.digest}",
        )
    )
    for print_section in (_sites, _hosts, _pairs, _lines, _switches, _power, _backups, _people):
        print_section(inv)


def _sites(inv: Inventory) -> None:
    rows = [[s.name, s.kind, s.description] for s in inv.sites]
    _table("Sites", ["name", "kind", "description"], rows)


def _hosts(inv: Inventory) -> None:
    rows = [
        [h.name, h.address, h.site, ", ".join(h.roles), ", ".join(h.tags),
         f"{h.ssh.user}, port {h.ssh.port}", h.shutdown_priority]
        for h in inv.hosts
    ]  # fmt: skip
    _table("Hosts", ["name", "address", "site", "roles", "tags", "ssh", "power-down order"], rows)


def _pairs(inv: Inventory) -> None:
    rows = [
        [p.name, p.service, p.primary, p.standby, f"{p.vip} on {p.vip_interface}",
         ", ".join(f.method for f in p.fencing)]
        for p in inv.host_pairs
    ]  # fmt: skip
    _table("Host pairs", ["name", "service", "primary", "standby", "VIP", "fencing"], rows)


def _lines(inv: Inventory) -> None:
    rows = [
        [li.name, li.site, li.kind, li.network, li.carrier, f"{li.switch} port {li.port}",
         li.peer_address]
        for li in inv.lines
    ]  # fmt: skip
    columns = ["name", "site", "kind", "network", "carrier", "switch", "far end"]
    _table("Lines", columns, rows)


def _switches(inv: Inventory) -> None:
    rows = [
        [s.name, s.site, s.network, s.device_type or "unmanaged", s.address, s.standby]
        for s in inv.switches
    ]
    _table("Switches", ["name", "site", "network", "type", "address", "standby"], rows)


def _power(inv: Inventory) -> None:
    ups_rows = [
        [u.name, f"{u.ups_name}@{u.nut_host}:{u.nut_port}", ", ".join(u.protects),
         format_duration(u.low_runtime_seconds)]
        for u in inv.power.ups
    ]  # fmt: skip
    _table("UPS", ["name", "NUT", "protects", "low runtime"], ups_rows)
    generator_rows = [
        [g.name, f"{g.modbus_host}:{g.modbus_port} unit {g.unit_id}",
         f"{g.nominal_voltage:g} V ±{g.voltage_tolerance_pct:g} %, "
         f"{g.nominal_frequency:g} Hz ±{g.frequency_tolerance_hz:g} Hz",
         format_duration(g.stable_seconds)]
        for g in inv.power.generators
    ]  # fmt: skip
    _table("Generators", ["name", "Modbus", "nominal output", "stable for"], generator_rows)


def _backups(inv: Inventory) -> None:
    rows = [
        [b.name, b.host, b.repository, b.schedule, _maybe_duration(b.rpo), _maybe_duration(b.rto)]
        for b in inv.restic_sets
    ]
    rows += [
        [
            p.name, f"pair {p.host_pair}", f"pgBackRest stanza {p.stanza}",
            ", ".join(f"{kind} {cron}" for kind, cron in p.schedule.model_dump().items() if cron),
            _maybe_duration(p.rpo), _maybe_duration(p.rto),
        ]
        for p in inv.pitr_sets
    ]  # fmt: skip
    _table("Backup sets", ["name", "host", "repository", "schedule", "RPO", "RTO"], rows)


def _people(inv: Inventory) -> None:
    rows = [[c.name, c.role, c.phone, c.email, _levels_of(inv, c.name)] for c in inv.contacts]
    _table("Contacts", ["name", "role", "phone", "email", "alerted at"], rows)
    target_rows = [
        [t.system, t.category, format_duration(t.rto), format_duration(t.rpo), t.procedure]
        for t in inv.targets
    ]
    _table("RTO/RPO targets", ["system", "category", "RTO", "RPO", "procedure"], target_rows)


def _maybe_duration(seconds: int | None) -> str | None:
    return None if seconds is None else format_duration(seconds)


def _levels_of(inv: Inventory, contact: str) -> str:
    return ", ".join(level for level, names in inv.escalation.items() if contact in names)
