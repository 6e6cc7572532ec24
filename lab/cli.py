"""`dr lab up|down|status|fault|heal|observe|mail`: the drill lab on this machine."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from lab.faults import FAULTS
from orchestrator.cli.console import console, error_console, print_json
from orchestrator.cli.options import DbOption, JsonOption, open_journal

if TYPE_CHECKING:
    from lab.lab import Lab

app = typer.Typer(
    help="The drill lab: real hosts, lines, switches, power and data on this machine (演练环境).",
    no_args_is_help=True,
)


def _lab() -> Lab:
    # Imported here: the lab's parts pull in pymodbus, boto3 and more, which the rest of
    # `dr` should not pay for at every start.
    from lab.lab import Lab

    return Lab(progress=lambda message: error_console.print(f"[dim]…[/] {escape(message)}"))


@app.command("up")
def up(
    branches: Annotated[
        int, typer.Option("--branches", min=1, max=50, help="How many branches.")
    ] = 2,
    loans: Annotated[
        int, typer.Option("--loans", min=100, help="Synthetic loans to generate.")
    ] = 10_000,
) -> None:
    """Build the lab (idempotent); prints where its inventory is."""
    started = time.monotonic()
    lab = _lab()
    lab.up(branches=branches, loans=loans)
    console.print(
        f"lab up in {time.monotonic() - started:.1f}s; inventory: {lab.state.inventory_file}"
    )


@app.command("down")
def down() -> None:
    """Remove every namespace, link, process, mount and file the lab made."""
    removed = _lab().down()
    console.print(f"lab down: removed {len(removed)} items")


@app.command("status")
def status(json_out: JsonOption = False) -> None:
    """Each part of the lab and the load-generator and prober counters."""
    from lab.status import lab_status

    report = lab_status(_lab())
    if json_out:
        print_json(console, report)
        return
    console.print(
        f"lab {'up' if report['up'] else 'DOWN'} ({report['state_dir']}), "
        f"{report['branches']} branches"
    )
    for name, running in report["processes"].items():
        console.print(f"  {name:<24} {'running' if running['running'] else 'STOPPED'}")
    for name, counters in report["observers"].items():
        console.print(f"  {name:<24} {escape(str(counters))}")
    for fault, details in report["faults"].items():
        console.print(f"  [yellow]fault in force[/]: {escape(fault)} since {details['since']}")
        _print_report({k: v for k, v in details.items() if k != "since"}, indent="      ")


@app.command("fault", context_settings={"allow_extra_args": False})
def fault(
    name: Annotated[str, typer.Argument(help="Fault name: " + ", ".join(FAULTS))],
    args: Annotated[list[str] | None, typer.Argument(help="The fault's arguments.")] = None,
) -> None:
    """Inject a fault (see docs/lab.md); `dr lab heal` undoes it."""
    key, report = _lab().apply(name, list(args or []), heal=False)
    console.print(f"fault injected: {escape(key)}")
    _print_report(report)


@app.command("heal")
def heal(
    name: Annotated[str, typer.Argument(help="Fault name.")],
    args: Annotated[list[str] | None, typer.Argument(help="The fault's arguments.")] = None,
) -> None:
    """Undo a fault."""
    key, report = _lab().apply(name, list(args or []), heal=True)
    console.print(f"healed: {escape(key)}")
    _print_report(report)


def _print_report(report: dict[str, Any] | None, indent: str = "  ") -> None:
    """What a fault reported, one `key: value` a line (the format docs/lab.md shows)."""
    for key, value in (report or {}).items():
        shown = ", ".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else (
            ", ".join(map(str, value)) if isinstance(value, list) else value
        )  # fmt: skip
        console.print(f"{indent}{key}: {escape(str(shown))}", soft_wrap=True)


@app.command("observe")
def observe(
    run_id: Annotated[str, typer.Argument(help="A drill run on the lab.")],
    branch: Annotated[str, typer.Option("--branch", help="Whose prober saw the outage.")],
    db: DbOption = None,
) -> None:
    """Record the lab's own RTO, and the acknowledged writes lost (RPO), for a finished
    drill, beside the runbook's (for reports)."""
    from lab.observed_record import record_lab_observation
    from lab.topology import LabTopology

    lab = _lab()
    journal = open_journal(db)
    # Lost writes are counted where the service answers now, whichever host that is.
    host = lab.serving_host()
    topo = LabTopology(branches=lab.state.load().branches)
    dsn = None if host is None else lab.credit_dsn(topo, host)
    records = record_lab_observation(
        journal, run_id, lab.state.observe, branch, credit_dsn=dsn, database_host=host
    )
    runbook = {m.name: m for m in journal.measurements(run_id) if m.source == "runbook"}
    for record in records:
        line = f"lab observed {record.name}: {record.value_seconds}s"
        if "lost_acknowledged_writes" in record.detail:
            line += (
                f", acknowledged writes lost: {record.detail['lost_acknowledged_writes']}"
                f" (checked on {record.detail.get('checked_on')})"
            )
        theirs = runbook.get(record.name)
        if theirs is not None:
            line += f"; runbook's {record.name}: {theirs.value_seconds}s"
        console.print(f"{line} (run {run_id})", soft_wrap=True)
    if dsn is None:
        error_console.print(
            f"no host holds the service VIP {topo.vip}: acknowledged writes lost not counted"
        )


@app.command("mail")
def mail(
    last: Annotated[int, typer.Option("--last", min=1, help="How many, newest last.")] = 10,
    json_out: JsonOption = False,
) -> None:
    """What the lab's mail room received: the roster's mail during drills (收件箱)."""
    from lab.mailroom import read_mail
    from lab.state import LabState

    messages = read_mail(LabState().mail)[-last:]
    rows = [{k: str(m[k] or "") for k in ("Date", "From", "To", "Subject")} for m in messages]
    if json_out:
        print_json(console, {"messages": rows})
        return
    if not rows:
        console.print("the mail room holds no mail (is the lab up? did a drill send any?)")
    for row in rows:
        console.print(f"{escape(row['Date'])}  {escape(row['To'])}  {escape(row['Subject'])}")
