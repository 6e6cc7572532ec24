"""The console's ASGI application: routes, static files, headers; no rule of its own."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from orchestrator.console import pages_approval, pages_board, pages_signin
from orchestrator.console.guard import Guard
from orchestrator.console.web import HERE, ConsoleState


def build_app(state: ConsoleState) -> Starlette:
    routes = [
        *pages_signin.ROUTES,
        *pages_board.ROUTES,
        *pages_approval.ROUTES,
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(
        routes=routes,
        middleware=[Middleware(Guard, https=state.secure_cookies)],
    )
    app.state.console = state
    return app
