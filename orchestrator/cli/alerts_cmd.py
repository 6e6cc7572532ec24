"""`dr alerts serve -i INVENTORY`: the webhook receiver for Alertmanager and Zabbix.

Its own process and port rather than a route of `dr serve`: the console's pages sit behind
sign-in sessions and CSRF checks that a monitoring system cannot pass, and a webhook bug
must not take the approval console down with it (or the reverse)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from orchestrator.cli.console import console, error_console
from orchestrator.cli.options import DbOption, InventoryOption, open_journal

app = typer.Typer(
    help="Monitoring alerts that open incidents (告警接入): Alertmanager, Zabbix.",
    no_args_is_help=True,
)


@app.command("serve")
def serve(
    inventory: InventoryOption,
    db: DbOption = None,
    listen: Annotated[
        str | None,
        typer.Option(
            "--listen",
            help="HOST:PORT (default: the inventory's alerts.listen, 127.0.0.1:9095). "
            "An intranet or loopback IP address.",
            show_default=False,
        ),
    ] = None,
    allow_public: Annotated[
        bool, typer.Option("--allow-public", help="Listen on a non-intranet address too.")
    ] = False,
    insecure_http: Annotated[
        bool,
        typer.Option("--insecure-http", help="Plain HTTP, on a loopback address only."),
    ] = False,
) -> None:
    """Receive alerts; each firing alert opens (or updates) an incident naming its runbook.
    HTTPS uses the console's certificate and key (console.certificate, console.key)."""
    import uvicorn

    from orchestrator.alerts.route_check import check_routes
    from orchestrator.alerts.server import Credential, build_app
    from orchestrator.console.network import is_public, resolve_listen
    from orchestrator.engine.discovery import RunbookRegistry
    from orchestrator.inventory import load_inventory

    inv = load_inventory(inventory)
    check_routes(inv, RunbookRegistry.discover())
    credential = Credential.from_settings(inv.alerts.auth)
    # The console's rule for where and how to listen, with the alerts' own address.
    settings = inv.console.model_copy(update={"listen": listen or inv.alerts.listen})
    where = resolve_listen(settings, None, allow_public=allow_public, insecure_http=insecure_http)
    if is_public(where):
        error_console.print(
            f"[bold yellow]warning:[/] listening on {escape(where.host)}, not an intranet "
            "address / 警告：告警接口监听在非内网地址上。"
        )
    journal = open_journal(db, inv.journal.key)
    console.print(
        f"dr alerts for {escape(inv.name)} on {where.scheme}://{escape(where.host)}:"
        f"{where.port} (POST /alertmanager, /zabbix); Ctrl-C stops it / 告警接口已启动",
        highlight=False,
    )
    uvicorn.run(
        build_app(journal, inv, credential, db),
        host=where.host,
        port=where.port,
        ssl_certfile=str(where.certificate) if where.certificate else None,
        ssl_keyfile=str(where.key) if where.key else None,
        access_log=False,
        log_level="warning",
    )
