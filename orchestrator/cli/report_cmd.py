"""`dr report rto-rpo|drill|drill-plan|incident|summary|lost-transactions`: reports built
from the journal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from orchestrator.cli.options import DbOption, open_existing_journal
from orchestrator.inventory import Inventory, load_inventory
from orchestrator.reports.i18n import report_lang
from orchestrator.reports.render import report_format, write_report

app = typer.Typer(help="Reports for management and the regulator (报告).", no_args_is_help=True)

FormatOption = Annotated[
    str, typer.Option("--format", "-f", help="html, pdf, md or json (the data itself).")
]
ReportLangOption = Annotated[
    str | None,
    typer.Option(
        "--lang",
        help="zh (zh-CN) or en (default: DR_LANG, else zh: the regulator reads Chinese).",
        show_default=False,
    ),
]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write here (default: stdout; a PDF needs -o).", show_default=False
    ),
]
OptionalInventory = Annotated[
    Path | None,
    typer.Option(
        "--inventory",
        "-i",
        help="Inventory: its targets name systems never tested.",
        show_default=False,
    ),
]


def _inventory(path: Path | None) -> Inventory | None:
    return load_inventory(path) if path is not None else None


@app.command("rto-rpo")
def rto_rpo(
    start: Annotated[
        str,
        typer.Option(
            "--from",
            help="First day, YYYY-MM-DD, in the inventory's timezone (without -i: the "
            "zone the journal's runs share, else UTC).",
        ),
    ],
    end: Annotated[str, typer.Option("--to", help="Last day, YYYY-MM-DD (included).")],
    inventory: OptionalInventory = None,
    fmt: FormatOption = "html",
    lang: ReportLangOption = None,
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """Target against achieved RTO/RPO of every drill, real run and restore test."""
    from orchestrator.reports import rto_rpo as report
    from orchestrator.reports.occasions import parse_day

    chosen_format, chosen_lang = report_format(fmt), report_lang(lang)
    first, last = parse_day(start, "--from"), parse_day(end, "--to")
    data = report.build(open_existing_journal(db), first, last, _inventory(inventory))
    write_report(data, report.layout, chosen_format, chosen_lang, output)


@app.command("drill")
def drill(
    run_id: Annotated[str, typer.Argument(help="The drill's run id.")],
    inventory: OptionalInventory = None,
    fmt: FormatOption = "html",
    lang: ReportLangOption = None,
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """The drill summary report: plan, timeline, results, problems found."""
    from orchestrator.reports import drill as report

    chosen_format, chosen_lang = report_format(fmt), report_lang(lang)
    data = report.build(open_existing_journal(db), run_id, _inventory(inventory))
    write_report(data, report.layout, chosen_format, chosen_lang, output)


@app.command("lost-transactions")
def lost_transactions(
    run_id: Annotated[str, typer.Argument(help="The run that rebuilt the old primary.")],
    inventory: OptionalInventory = None,
    fmt: FormatOption = "html",
    lang: ReportLangOption = None,
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """The re-entry list (补录清单): writes only the old primary acknowledged, by branch."""
    from orchestrator.reports import lost_transactions as report

    chosen_format, chosen_lang = report_format(fmt), report_lang(lang)
    data = report.build(open_existing_journal(db), run_id, _inventory(inventory))
    write_report(data, report.layout, chosen_format, chosen_lang, output)


@app.command("drill-plan")
def drill_plan(
    year: Annotated[int, typer.Option("--year", help="The plan's year.")],
    inventory: Annotated[
        Path, typer.Option("--inventory", "-i", help="Inventory with a drills: section.")
    ],
    fmt: FormatOption = "html",
    lang: ReportLangOption = None,
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """The annual drill plan from the inventory's `drills:` schedule."""
    from orchestrator.reports import drill_plan as report

    chosen_format, chosen_lang = report_format(fmt), report_lang(lang)
    data = report.build(open_existing_journal(db), load_inventory(inventory), year)
    write_report(data, report.layout, chosen_format, chosen_lang, output)


@app.command("incident")
def incident(
    incident_id: Annotated[str, typer.Argument(help="Incident id (INC-...).")],
    details: Annotated[
        Path | None,
        typer.Option(
            "--details",
            help="YAML with the written report's narrative fields (see docs).",
            show_default=False,
        ),
    ] = None,
    fmt: FormatOption = "html",
    lang: ReportLangOption = None,
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """The regulator's written report and the post-incident evaluation."""
    from orchestrator.reports import incident as report

    chosen_format, chosen_lang = report_format(fmt), report_lang(lang)
    narrative = report.load_details(details)
    data = report.build(open_existing_journal(db), incident_id, narrative)
    write_report(data, report.layout, chosen_format, chosen_lang, output)


@app.command("summary")
def summary(
    inventory: Annotated[
        Path, typer.Option("--inventory", "-i", help="Inventory whose targets are reported.")
    ],
    quarter: Annotated[
        str | None,
        typer.Option(
            "--quarter", help="YYYY-Qn (default: the current quarter).", show_default=False
        ),
    ] = None,
    fmt: FormatOption = "html",
    lang: ReportLangOption = None,
    output: OutputOption = None,
    db: DbOption = None,
) -> None:
    """One page for management: which systems met their targets this quarter."""
    from orchestrator.reports import summary as report
    from orchestrator.reports.occasions import report_zone

    chosen_format, chosen_lang = report_format(fmt), report_lang(lang)
    loaded = load_inventory(inventory)
    first, last = report.quarter_bounds(quarter, report_zone(loaded))
    data = report.build(open_existing_journal(db), loaded, first, last)
    write_report(data, report.layout, chosen_format, chosen_lang, output)
