"""`dr scheduler run|jobs -i INVENTORY`: thin wiring to orchestrator.scheduler."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from orchestrator.cli.console import console
from orchestrator.cli.options import DbOption, InventoryOption, JsonOption
from orchestrator.cli.summary import print_json
from orchestrator.scheduler.daemon import Daemon

app = typer.Typer(
    help="Run backups, restore tests and the RPO watchdog on their schedules.",
    no_args_is_help=True,
)

TextfileOption = Annotated[
    Path | None,
    typer.Option(
        "--textfile-dir",
        help="Directory for the Prometheus textfile dr.prom (default: the inventory's "
        "scheduler.textfile_dir, else /var/lib/node_exporter/textfile_collector as root, "
        "~/.local/state/dr/textfile otherwise).",
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
    table = Table("job", "next run", "trigger", "")
    for row in rows:
        note = (
            "not in the inventory"
            if row.get("stale")
            else ("" if row["stored"] else "not started yet")
        )
        table.add_row(escape(row["id"]), row["next_run_time"] or "-", escape(row["trigger"]), note)
    console.print(table)
