"""Start the console: check where it may listen, then hand the app to uvicorn."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import uvicorn

from orchestrator.console.app import build_app
from orchestrator.console.board import Board
from orchestrator.console.network import Listen
from orchestrator.console.web import ConsoleState

if TYPE_CHECKING:
    from orchestrator.inventory import Inventory
    from orchestrator.journal import Journal


def base_url(inventory: Inventory, listen: Listen) -> str:
    """The address people are sent to: the inventory's `console.url`, else the listener's."""
    if inventory.console.url is not None:
        return str(inventory.console.url).rstrip("/")
    host = f"[{listen.host}]" if ":" in listen.host else listen.host
    return f"{listen.scheme}://{host}:{listen.port}"


def serve(journal: Journal, inventory: Inventory, listen: Listen) -> None:
    state = ConsoleState(
        journal=journal,
        inventory=inventory,
        board=Board(journal, inventory),
        base_url=base_url(inventory, listen),
        session_minutes=inventory.console.session_minutes,
        secure_cookies=listen.certificate is not None,
    )
    config = uvicorn.Config(
        build_app(state),
        host=listen.host,
        port=listen.port,
        ssl_certfile=str(listen.certificate) if listen.certificate else None,
        ssl_keyfile=str(listen.key) if listen.key else None,
        # One-time codes travel in link paths: no access log may keep them.
        access_log=False,
        log_level=logging.getLevelName(logging.WARNING).lower(),
        server_header=False,
        proxy_headers=False,
        timeout_graceful_shutdown=3,
    )
    uvicorn.Server(config).run()
