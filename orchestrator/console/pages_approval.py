"""The approval page: the plan, the step, what it will do; approve or refuse.

Whoever is signed in may look; `approvals.approve` and `approvals.refuse` decide whether
this person may decide (roster fixed when the step began, not the starter, the run's
inventory), so the console applies the same rules as `dr approve`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from orchestrator.console import sessions
from orchestrator.console.web import lang_of, render, session_of, set_cookie, state_of, to_signin
from orchestrator.engine import approval_roster, approvals
from orchestrator.engine.plan import flatten, plan_rows
from orchestrator.errors import DrError, UserInputError
from orchestrator.identity import one_time


def approval_page(request: Request) -> Response:
    session = session_of(request)
    run_id, step = request.path_params["run_id"], request.path_params["step"]
    if session is None or not session.may_open(run_id, step):
        return to_signin(request)
    return _page(request, session, run_id, step, None)


async def decide(request: Request) -> Response:
    form = await request.form()
    return await run_in_threadpool(lambda: _decide(request, dict(form)))


def _decide(request: Request, form: dict[str, Any]) -> Response:
    session = session_of(request)
    run_id, step = request.path_params["run_id"], request.path_params["step"]
    if session is None or not session.may_open(run_id, step):
        return to_signin(request)
    if not sessions.csrf_ok(request.cookies.get(sessions.COOKIE), str(form.get("csrf") or "")):
        return render(request, "message.html", session, {"key": "forbidden"}, status_code=403)
    state = state_of(request)
    decision = str(form.get("decision") or "")
    act = {"approve": approvals.approve, "refuse": approvals.refuse}.get(decision)
    if act is None:
        return _page(request, session, run_id, step, "approve or refuse / 请选择批准或不批准")
    note = str(form.get("note") or "")[:500]
    try:
        act(state.journal, state.inventory, run_id, step, session.person(), note)
    except UserInputError as err:
        return _page(request, session, run_id, step, err.message, status_code=403)
    done = "approved" if decision == "approve" else "refused"
    return RedirectResponse(f"/runs/{run_id}?done={done}", status_code=303)


def _page(
    request: Request,
    session: sessions.Session,
    run_id: str,
    step: str,
    error: str | None,
    status_code: int = 200,
) -> Response:
    state = state_of(request)
    try:
        run = state.journal.get_run(run_id)
    except DrError:
        return render(request, "message.html", session, {"key": "forbidden"}, status_code=404)
    records = [s for s in state.journal.steps(run_id) if s.step_id == step]
    if not records or records[0].kind != "approval":
        return render(request, "message.html", session, {"key": "not_waiting"}, status_code=404)
    roster = approval_roster.fixed(state.journal, run_id, step)
    context = {
        "run": run,
        "step": step,
        "record": records[0],
        "waiting": records[0].status == "waiting",
        "roster": roster,
        "rows": _plan(request, run),
        "error": error,
    }
    return render(request, "approval.html", session, context, status_code=status_code)


def _plan(request: Request, run: Any) -> list[Any]:
    """The run's plan as `dr plan` shows it; empty if the runbook is no longer here."""
    state = state_of(request)
    try:
        runbook = state.board.registry.get(run.runbook)
        steps = flatten(runbook, state.board.registry, dict(run.params))
        return list(plan_rows(steps, state.inventory, lang_of(request, session_of(request))))
    except DrError:
        return []


def link_page(request: Request) -> Response:
    return render(
        request,
        "confirm.html",
        None,
        {"action": f"/approve/{request.path_params['token']}", "code": ""},
    )


async def use_link(request: Request) -> Response:
    token = request.path_params["token"]
    work: Callable[[], Response] = lambda: _use_link(request, token)  # noqa: E731
    return await run_in_threadpool(work)


def _use_link(request: Request, token: str) -> Response:
    """Redeem a one-time approval code: a session for that person, for that step only."""
    state = state_of(request)
    if not state.attempts.allow(request.client.host if request.client else "unknown"):
        return render(request, "message.html", None, {"key": "too_many"}, status_code=429)
    found = _code_target(state.journal, token)
    try:
        if found is None:
            raise one_time.CodeRefused("this approval link is unknown / 审批链接无效")
        run_id, step = found
        # Spend the code only when an approval could follow: the console serves the
        # inventory the run started with (the same check `dr approve` makes first).
        one_time.check(state.journal, token, run_id=run_id, step_path=step)
        approvals.check_inventory(state.inventory, state.journal.get_run(run_id))
        person = one_time.redeem(state.journal, token, run_id=run_id, step_path=step)
    except UserInputError as err:
        return render(request, "message.html", None, {"text": err.message}, status_code=403)
    session_id = sessions.start(
        state.journal, person, state.session_minutes, scope=f"{run_id}/{step}"
    )
    response = RedirectResponse(f"/approve/{run_id}/{step}", status_code=303)
    set_cookie(request, response, sessions.COOKIE, session_id, state.session_minutes * 60)
    return response


def _code_target(journal: Any, token: str) -> tuple[str, str] | None:
    """Which step an approval code was issued for (redeem then checks all the rest)."""
    table = one_time.approval_codes
    table.create(journal.engine, checkfirst=True)
    with journal.engine.connect() as conn:
        row = conn.execute(
            select(table.c.run_id, table.c.step_path).where(
                table.c.token_hash == one_time.token_hash(token.strip()),
                table.c.purpose == "approval",
            )
        ).first()
    return None if row is None else (str(row.run_id), str(row.step_path))


ROUTES = [
    Route("/approve/{token}", link_page, methods=["GET"]),
    Route("/approve/{token}", use_link, methods=["POST"]),
    Route("/approve/{run_id}/{step:path}", approval_page, methods=["GET"]),
    Route("/approve/{run_id}/{step:path}", decide, methods=["POST"]),
]
