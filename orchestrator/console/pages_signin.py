"""Sign-in and sign-out: a one-time code to the person's own channel, then a session."""

from __future__ import annotations

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from orchestrator.console import sessions, signin
from orchestrator.console.web import client_address, lang_of, render, set_cookie, state_of
from orchestrator.console.words import word
from orchestrator.errors import UserInputError


def signin_page(request: Request) -> Response:
    return render(request, "signin.html", None, {"sent": False, "error": None, "name": ""})


async def send_code(request: Request) -> Response:
    form = await request.form()
    name = str(form.get("name") or "").strip()
    return await _in_thread(request, lambda: _send_code(request, name))


def _send_code(request: Request, name: str) -> Response:
    state = state_of(request)
    if not name or not state.attempts.allow(client_address(request), name):
        return _refused(request, name, "too_many" if name else None)
    signin.send_code(state.journal, state.inventory, name, state.base_url)
    # The same answer whether or not the name is a contact: the page tells no one who is.
    return render(request, "signin.html", None, {"sent": True, "error": None, "name": name})


async def use_code(request: Request) -> Response:
    form = await request.form()
    code = str(form.get("code") or "").strip()
    return await _in_thread(request, lambda: _use_code(request, code))


def _use_code(request: Request, code: str) -> Response:
    state = state_of(request)
    if not state.attempts.allow(client_address(request)):
        return _refused(request, "", "too_many")
    try:
        person = signin.redeem(state.journal, code)
    except UserInputError as err:
        return render(
            request,
            "signin.html",
            None,
            {"sent": True, "error": err.message, "name": ""},
            status_code=403,
        )
    session_id = sessions.start(state.journal, person, state.session_minutes)
    state.journal.append("console.signed_in", actor=person.contact, data={"proof": person.proof})
    response = RedirectResponse("/", status_code=303)
    set_cookie(request, response, sessions.COOKIE, session_id, state.session_minutes * 60)
    return response


def link_page(request: Request) -> Response:
    """A sign-in link opens a page with a button: a link previewer fetching the address
    must not use up the code."""
    return render(
        request,
        "confirm.html",
        None,
        {"action": "/signin/code", "code": request.path_params["token"]},
    )


async def sign_out(request: Request) -> Response:
    form = await request.form()
    cookie = request.cookies.get(sessions.COOKIE)
    if sessions.csrf_ok(cookie, str(form.get("csrf") or "")):
        await run_in_threadpool(sessions.end, state_of(request).journal, cookie)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(sessions.COOKIE, path="/")
    return response


def _refused(request: Request, name: str, key: str | None) -> Response:
    error = word(lang_of(request, None), key) if key else None
    return render(
        request,
        "signin.html",
        None,
        {"sent": False, "error": error, "name": name},
        status_code=429 if key else 400,
    )


async def _in_thread(request: Request, work: Callable[[], Response]) -> Response:
    # The journal and the notifiers block: off the event loop, which serves the streams.
    return await run_in_threadpool(work)


ROUTES = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", send_code, methods=["POST"]),
    Route("/signin/code", use_code, methods=["POST"]),
    Route("/signin/{token}", link_page, methods=["GET"]),
    Route("/signout", sign_out, methods=["POST"]),
]
