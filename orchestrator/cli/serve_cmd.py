"""`dr serve -i INVENTORY`: the duty-room console; `dr serve link`: a sign-in link for
the person at this terminal."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import console, error_console
from orchestrator.cli.options import DbOption, InventoryOption, open_journal
from orchestrator.errors import UserInputError
from orchestrator.inventory import load_inventory

app = typer.Typer(
    help="The duty-room web console (值班控制台): incidents, live runs, RPO ages, approvals.",
    invoke_without_command=True,
)

ListenOption = Annotated[
    str | None,
    typer.Option(
        "--listen",
        help="HOST:PORT to listen on (default: the inventory's console.listen, "
        "127.0.0.1:8443). An intranet or loopback IP address.",
        show_default=False,
    ),
]


@app.callback()
def serve(
    ctx: typer.Context,
    inventory: Annotated[
        str | None,
        typer.Option("--inventory", "-i", help="Inventory YAML file.", show_default=False),
    ] = None,
    db: DbOption = None,
    listen: ListenOption = None,
    allow_public: Annotated[
        bool,
        typer.Option(
            "--allow-public",
            help="Listen on a public (non-intranet) address too. Not for production.",
        ),
    ] = False,
    insecure_http: Annotated[
        bool,
        typer.Option(
            "--insecure-http",
            help="Serve plain HTTP, on a loopback address only (tests, an SSH tunnel).",
        ),
    ] = False,
) -> None:
    """Serve the console over HTTPS (console.certificate and console.key in the inventory)."""
    if ctx.invoked_subcommand is not None:
        return
    if inventory is None:
        raise UserInputError("dr serve needs the inventory: dr serve -i INVENTORY / 请指定清单")
    from orchestrator.console.network import is_public, resolve_listen
    from orchestrator.console.serve import base_url
    from orchestrator.console.serve import serve as run_server

    inv = load_inventory(inventory)
    where = resolve_listen(
        inv.console, listen, allow_public=allow_public, insecure_http=insecure_http
    )
    if is_public(where):
        error_console.print(
            f"[bold yellow]warning:[/] listening on {escape(where.host)}, which is not an "
            "intranet address: anyone who reaches it sees the sign-in page. / 警告：控制台"
            "监听在非内网地址上。"
        )
    journal = open_journal(db, inv.journal.key)
    console.print(
        f"dr console for {escape(inv.name)} on {escape(base_url(inv, where))} "
        f"({where.scheme}); Ctrl-C stops it / 控制台已启动",
        highlight=False,
    )
    run_server(journal, inv, where)


@app.command("link")
def link(inventory: InventoryOption, db: DbOption = None) -> None:
    """Print a one-time sign-in link for the person at this terminal (their OS account,
    mapped by contacts[].login), valid ten minutes, once."""
    from orchestrator.console import signin
    from orchestrator.console.network import parse_listen
    from orchestrator.identity import person_at_terminal

    inv = load_inventory(inventory)
    person = person_at_terminal(inv)
    journal = open_journal(db, inv.journal.key)
    token = signin.issue(journal, inv, person.contact)
    if inv.console.url is not None:
        base = str(inv.console.url)
    else:
        host, port = parse_listen(inv.console.listen)
        base = f"https://{f'[{host}]' if ':' in host else host}:{port}"
    print(signin.link(base, token))
    error_console.print(
        f"for {person.contact} only; valid 10 minutes, once / 仅限 {person.contact} 本人使用，"
        "10 分钟内有效，仅一次",
        highlight=False,
    )
