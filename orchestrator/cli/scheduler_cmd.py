"""`dr scheduler run|jobs|watch -i INVENTORY`: thin wiring to orchestrator.scheduler and
orchestrator.service_watch."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import console, print_json
from orchestrator.cli.options import DbOption, InventoryOption, JsonOption
from orchestrator.cli.tables import folding_table, print_table
from orchestrator.durations import parse_seconds
from orchestrator.errors import UserInputError
from orchestrator.inventory import load_inventory
from orchestrator.journal import Journal, resolve_journal_url
from orchestrator.journal.key import load_key
from orchestrator.scheduler.daemon import Daemon
from orchestrator.service_watch.watcher import ServiceWatch
from orchestrator.shown_times import shown_time, zone_of

app = typer.Typer(
    help="Run backups, restore tests and the RPO watchdog on their schedules.",
    no_args_is_help=True,
)

TextfileOption = Annotated[
    Path | None,
    typer.Option(
        "--textfile-dir",
        help="Directory for the Prometheus textfile dr.prom (default: the inventory's "
        "scheduler.textfile_dir, else /var/lib/prometheus/node-exporter (Debian's "
        "node_exporter reads it) as root or when writable, ~/.local/state/dr/textfile "
        "otherwise).",
        show_default=False,
    ),
]


@app.command("run")
def run(
    inventory: InventoryOption, db: DbOption = None, textfile_dir: TextfileOption = None
) -> None:
    """Run the scheduler in the foreground until SIGTERM/SIGINT (what the systemd unit runs)."""
    # A daemon's log goes to the journal of systemd (stderr); keep APScheduler's lines.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    Daemon(inventory, db_url=db, textfile_dir=textfile_dir).run_forever()


@app.command("jobs")
def jobs(inventory: InventoryOption, db: DbOption = None, json_out: JsonOption = False) -> None:
    """The scheduled jobs and when each runs next (from the database, else the inventory)."""
    daemon = Daemon(inventory, db_url=db)
    rows = daemon.next_runs()
    if json_out:
        print_json(console, {"database": daemon.describe(), "jobs": rows})
        return
    table = folding_table("job", "next run", "trigger", "")
    for row in rows:
        note = (
            "not in the inventory"
            if row.get("stale")
            else ("" if row["stored"] else "not started yet")
        )
        next_run = shown_time(row["next_run_time"], zone_of(daemon.inventory))
        table.add_row(escape(row["id"]), next_run, escape(row["trigger"]), note)
    print_table(console, table)


@app.command("watch")
def watch(
    inventory: InventoryOption,
    db: DbOption = None,
    lifetime: Annotated[
        str | None,
        typer.Option(
            "--for",
            help="Stop after this long (e.g. 90s, 2h); default: until SIGTERM/SIGINT.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run only the service watch (scheduler.service_watch) in the foreground: probe each
    pair's service from each vantage and journal when it goes down and comes back."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    seconds = _seconds("--for", lifetime) if lifetime is not None else None
    inv = load_inventory(inventory)
    settings = inv.scheduler.service_watch
    if settings is None:
        raise UserInputError(
            f"{inventory}: the inventory has no scheduler.service_watch section; add one "
            "(e.g. `service_watch: {interval: 1s}`) to say how often to probe / "
            "清单中没有 scheduler.service_watch 配置"
        )
    journal = Journal(resolve_journal_url(db), load_key(inv.journal.key))
    try:
        service_watch = ServiceWatch(inv, journal, settings)
        for unwatched in service_watch.unwatched:
            console.print(f"[yellow]not watched[/] {escape(unwatched.vantage)}: {unwatched.why}")
        if not service_watch.targets:
            raise UserInputError(
                f"{inventory}: nothing to watch: no host pair has a service_url, or no vantage "
                "can probe it / 没有可监测的服务"
            )
        for target in service_watch.targets:
            console.print(f"watching {escape(target.label)} ({escape(target.url)})")
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        service_watch.run(stop, seconds)
    finally:
        journal.close()


def _seconds(option: str, text: str) -> float:
    try:
        return parse_seconds(text)
    except ValueError as err:
        raise UserInputError(f"{option} {text!r}: {err}; write e.g. 90s, 30m, 2h") from None
