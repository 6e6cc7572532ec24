"""What every page shares: the console's state, who is signed in, language, rendering."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from orchestrator.console import sessions
from orchestrator.console.attempts import Attempts
from orchestrator.console.words import WORDS, Lang, pick_lang, word

if TYPE_CHECKING:
    from orchestrator.console.board import Board
    from orchestrator.inventory import Inventory
    from orchestrator.journal import Journal

HERE = Path(__file__).parent
LANG_COOKIE = "dr_console_lang"


@dataclass
class ConsoleState:
    journal: Journal
    inventory: Inventory
    board: Board
    base_url: str
    session_minutes: int
    secure_cookies: bool  # False only for plain HTTP on loopback (tests)
    attempts: Attempts = field(default_factory=Attempts)
    templates: Jinja2Templates = field(
        default_factory=lambda: Jinja2Templates(directory=str(HERE / "templates"))
    )


def state_of(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def session_of(request: Request) -> sessions.Session | None:
    return sessions.find(state_of(request).journal, request.cookies.get(sessions.COOKIE))


def lang_of(request: Request, session: sessions.Session | None) -> Lang:
    default: Lang = "zh"
    if session is not None:
        contact = next(
            (c for c in state_of(request).inventory.contacts if c.name == session.contact), None
        )
        if contact is not None:
            default = contact.language
    return pick_lang(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE), default)


def render(
    request: Request,
    template: str,
    session: sessions.Session | None,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    lang = lang_of(request, session)
    cookie = request.cookies.get(sessions.COOKIE)
    values = {
        "lang": lang,
        "t": lambda key: word(lang, key),
        "words": {key: word(lang, key) for key in WORDS},
        "session": session,
        "csrf": sessions.csrf_token(cookie) if session is not None and cookie else "",
        "inventory": state_of(request).inventory.name,
        "path": request.url.path,
        **(context or {}),
    }
    response = state_of(request).templates.TemplateResponse(
        request, template, values, status_code=status_code
    )
    if request.query_params.get("lang") in ("zh", "en"):
        set_cookie(request, response, LANG_COOKIE, lang, max_age=365 * 24 * 3600)
    return response


def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=state_of(request).secure_cookies,
        samesite="strict",
        path="/",
    )


def to_signin(request: Request) -> Response:
    """Pages send a person to sign in; the event stream and data answer 401."""
    if request.url.path.startswith(("/events", "/api/")):
        return PlainTextResponse("sign in first / 请先登录", status_code=401)
    return RedirectResponse("/signin", status_code=303)


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"
