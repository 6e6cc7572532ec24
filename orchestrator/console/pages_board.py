"""The overview (incidents, runs, backups), one run's page, and their live stream."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from orchestrator.console import sessions
from orchestrator.console.board import run_view
from orchestrator.console.web import render, session_of, state_of, to_signin
from orchestrator.errors import DrError

STREAM_EVERY_SECONDS = 1.0
# A stream re-checks its session this often: a sign-out or expiry ends it.
STREAM_SESSION_CHECK = 30


def overview(request: Request) -> Response:
    session = session_of(request)
    if session is None or session.scope:
        return to_signin(request)
    return render(request, "board.html", session, {"board": state_of(request).board.snapshot()})


def run_page(request: Request) -> Response:
    session = session_of(request)
    run_id = request.path_params["run_id"]
    if session is None or not session.may_open_run(run_id):
        return to_signin(request)
    state = state_of(request)
    try:
        run = state.journal.get_run(run_id)
    except DrError:
        return render(request, "message.html", session, {"key": "forbidden"}, status_code=404)
    view = run_view(state.journal, state.inventory, state.board.registry, run)
    return render(request, "run.html", session, {"run": view})


def board_json(request: Request) -> Response:
    session = session_of(request)
    if session is None or session.scope:
        return to_signin(request)
    return JSONResponse(state_of(request).board.snapshot())


async def events(request: Request) -> Response:
    """Server-sent events: the board (or one run) whenever it changes."""
    cookie = request.cookies.get(sessions.COOKIE)
    session = await run_in_threadpool(session_of, request)
    run_id = request.query_params.get("run")
    if session is None or (session.scope and not (run_id and session.may_open_run(run_id))):
        return to_signin(request)
    state = state_of(request)

    def picture() -> dict[str, Any]:
        if run_id:
            run = state.journal.get_run(run_id)
            return {"run": run_view(state.journal, state.inventory, state.board.registry, run)}
        return state.board.snapshot()

    async def stream() -> AsyncIterator[str]:
        last, ticks = "", 0
        while not await request.is_disconnected():
            ticks += 1
            if ticks % STREAM_SESSION_CHECK == 0:
                found = await run_in_threadpool(sessions.find, state.journal, cookie)
                if found is None:
                    yield "event: signed-out\ndata: {}\n\n"
                    return
            text = json.dumps(await run_in_threadpool(picture), ensure_ascii=False)
            if text != last:
                last = text
                yield f"data: {text}\n\n"
            else:
                yield ": still here\n\n"  # keeps proxies from closing an idle stream
            await asyncio.sleep(STREAM_EVERY_SECONDS)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


ROUTES = [
    Route("/", overview, methods=["GET"]),
    Route("/runs/{run_id}", run_page, methods=["GET"]),
    Route("/api/board", board_json, methods=["GET"]),
    Route("/events", events, methods=["GET"]),
]
